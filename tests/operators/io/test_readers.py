"""Readers and sources without Ray: formats, byte-range splitting, truncation, user errors."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest
import zstandard

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io import IngestConfig, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.read_task import ReadTask
from tokenmill.operators.io.streams import iter_lines


def _read_all(path, cfg=None, split_bytes=None):
    cfg = cfg or IngestConfig()
    files = resolve_inputs([str(path)])
    tasks = plan_read_tasks(files, split_bytes or cfg.split_bytes)
    reader = ReadTask(cfg)
    return pa.concat_tables(list(reader(pa.Table.from_pylist(tasks)))).to_pylist()


def test_byte_ranges_cover_every_line_once(tmp_path, shared_data):
    lines = (shared_data / "text/udhr/eng.txt").read_bytes().splitlines()
    data = b"\n".join(lines * 60) + b"\n"  # > 1 MiB so it splits
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    whole = list(iter_lines(str(path), None))
    size = len(data)
    split = []
    for start in range(0, size, 100_003):
        split.extend(iter_lines(str(path), None, start, min(start + 100_003, size)))
    assert split == whole
    rows = _read_all(path, split_bytes=1 << 20)
    assert len(rows) == sum(1 for line in lines * 60 if line.strip())
    assert len({r["location"] for r in rows}) == len(rows)


@pytest.mark.parametrize("compress,suffix", [(gzip.compress, ".gz"), (lambda b: zstandard.ZstdCompressor().compress(b), ".zst")])
def test_compressed_jsonl_round_trip(tmp_path, compress, suffix):
    records = [{"text": f"doc {i} ünïcode", "src_id": i} for i in range(1000)]
    path = tmp_path / f"d.jsonl{suffix}"
    path.write_bytes(compress(b"".join(json.dumps(r).encode() + b"\n" for r in records)))
    rows = _read_all(path)
    assert [r["text"] for r in rows] == [r["text"] for r in records]
    assert json.loads(rows[3]["meta"]) == {"src_id": 3}
    assert all(r["_reject_reason"] is None for r in rows)


def test_multi_frame_zstd(tmp_path):
    cctx = zstandard.ZstdCompressor()
    data = cctx.compress(b'{"text": "a"}\n') + cctx.compress(b'{"text": "b"}\n')
    path = tmp_path / "m.jsonl.zst"
    path.write_bytes(data)
    assert [r["text"] for r in _read_all(path)] == ["a", "b"]


def test_truncated_zstd_keeps_prefix_and_quarantines_tail(tmp_path):
    data = b"".join(json.dumps({"text": f"line {i}"}).encode() + b"\n" for i in range(50_000))
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(data)[:20_000])
    rows = _read_all(path)
    good = [r for r in rows if r["_reject_reason"] is None]
    bad = [r for r in rows if r["_reject_reason"] is not None]
    assert good and [r["text"] for r in good] == [f"line {i}" for i in range(len(good))]
    assert [r["_reject_reason"] for r in bad] == ["truncated_input"]


def test_missing_path_and_directory_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        resolve_inputs([str(tmp_path / "nope.jsonl")])
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_inputs([str(tmp_path)])
    with pytest.raises(ConfigError, match="matched no files"):
        resolve_inputs([str(tmp_path / "*.jsonl")])
    (tmp_path / "x.weird").write_text("hi")
    with pytest.raises(ConfigError, match="format"):
        resolve_inputs([str(tmp_path / "x.weird")])


def test_fasta_segments(tmp_path):
    path = tmp_path / "g.fa"
    path.write_bytes(b">r1 desc\n" + b"ACGTacgtNN" * 10 + b"\n>r2\n" + b"A" * 2500 + b"\n")
    rows = _read_all(path, IngestConfig(segment_length=1000, min_length=5))
    good = [r for r in rows if r["_reject_reason"] is None]
    # r1: 10 pieces of 8 bp split by NN → all shorter than... 8 >= 5 so kept; r2: 1000 + 1000 + 500
    assert [(r["record"], r["offset"], len(r["seq"])) for r in good] == [("r1", 10 * i, 8) for i in range(10)] + [
        ("r2", 0, 1000),
        ("r2", 1000, 1000),
        ("r2", 2000, 500),
    ]
    assert good[0]["seq"] == "ACGTACGT" and good[0]["soft_masked_fraction"] == pytest.approx(0.5)


@pytest.mark.parametrize("policy,expect_reason,n_good", [("split", None, 2), ("to_n", None, 2), ("quarantine", "iupac_code", 0)])
def test_iupac_policies(tmp_path, policy, expect_reason, n_good):
    path = tmp_path / "i.fa"
    path.write_bytes(b">r\n" + b"ACGT" * 30 + b"RY" + b"ACGT" * 30 + b"\n")
    rows = _read_all(path, IngestConfig(segment_length=1000, min_length=10, iupac_policy=policy))
    assert sum(r["_reject_reason"] is None for r in rows) == n_good
    if expect_reason:
        assert [r["_reject_reason"] for r in rows] == [expect_reason]
