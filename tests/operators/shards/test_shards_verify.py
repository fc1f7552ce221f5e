"""verify_shard_set: a sound set passes; every kind of damage is named as the first problem."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.operators.shards.shard_helpers import write_set
from tokenmill.operators.shards import verify_shard_set
from tokenmill.operators.shards.manifest import file_entry, write_manifest


def test_sound_set_passes(small_set):
    out, manifest = small_set
    report = verify_shard_set(out)
    assert report.ok and report.problem is None and report.warnings == []
    assert report.totals == manifest["totals"]


def test_no_manifest_is_not_a_set(tmp_path):
    report = verify_shard_set(tmp_path)
    assert not report.ok and "no manifest" in report.problem


def flip_byte(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def tamper(small_set, kind, change) -> str:
    """Apply ``change(path)`` to the first shard's ``kind`` file, make the manifest agree with the new bytes (so
    only the deeper checks can catch it) and return verify's problem."""
    out, manifest = small_set
    shard = manifest["shards"][0]
    change(out / shard["files"][kind]["path"])
    shard["files"][kind] = file_entry(out / shard["files"][kind]["path"], out)
    write_manifest(out, manifest)
    return verify_shard_set(out).problem


def test_checksum_mismatch(small_set):
    out, manifest = small_set
    flip_byte(out / manifest["shards"][1]["files"]["bin"]["path"], 10)
    report = verify_shard_set(out)
    assert not report.ok and "sha256 does not match" in report.problem and manifest["shards"][1]["name"] in report.problem


def test_missing_file(small_set):
    out, manifest = small_set
    (out / manifest["shards"][0]["files"]["rows"]["path"]).unlink()
    assert "is missing" in verify_shard_set(out).problem


def test_bin_changed_but_rehashed_disagrees_with_rows(small_set):
    assert "rows file and .bin + plan disagree on input_ids" in tamper(small_set, "bin", lambda p: flip_byte(p, 6))


def test_truncated_idx(small_set):
    assert "header promises" in tamper(small_set, "idx", lambda p: p.write_bytes(p.read_bytes()[:-8]))


def shift_one_position(path):
    table = pq.read_table(path)
    pos = table.column("position_ids").combine_chunks()
    flat = pos.flatten().to_numpy().copy()
    flat[5] += 1
    bad = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.int32()), pos.type.list_size)
    pq.write_table(table.set_column(1, "position_ids", bad), path, compression="zstd")


def test_broken_positions_in_rows(small_set):
    assert "position_ids do not restart" in tamper(small_set, "rows", shift_one_position)


def test_plan_missing_a_row(small_set):
    problem = tamper(small_set, "plan", lambda p: pq.write_table(pq.read_table(p).slice(1), p))
    assert "plan has" in problem and "rows, manifest says" in problem


def test_totals_must_add_up(small_set):
    out, manifest = small_set
    manifest["totals"]["tokens"] += 1
    write_manifest(out, manifest)
    assert verify_shard_set(out).problem.startswith("totals: tokens")


def test_foreign_format_is_refused(small_set):
    out, manifest = small_set
    manifest["format"] = "tokenmill shards v2"
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert "expected 'tokenmill shards v1'" in verify_shard_set(out).problem


def test_leftover_files_are_warnings_not_part_of_the_set(small_set):
    out, _ = small_set
    (out / ".shard-0123456789ab-00000.bin.tmp").write_bytes(b"half written")
    report = verify_shard_set(out)
    assert report.ok and len(report.warnings) == 1 and "not listed in the manifest" in report.warnings[0]


@pytest.mark.parametrize("formats", [("megatron",), ("parquet",)])
def test_single_format_sets_verify(tmp_path, udhr_docs, formats):
    write_set(tmp_path, udhr_docs[:80], pack={"context_length": 128, "long_docs": "truncate"}, formats=formats)
    assert verify_shard_set(tmp_path).ok
    assert np.all([p.suffix != ".tmp" for p in tmp_path.iterdir()])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m["tokenizer"].update(hash="0" * 64), "written with tokenizer"),
        (lambda m: m["config"]["pack"].update(eos_id=0), "written with pack.eos_id=50256, the manifest says 0"),
        (lambda m: m["config"]["pack"].update(bos_id=1), "written with pack.bos_id=None, the manifest says 1"),
        (lambda m: m["tokenizer"].update(vocab_size=50258), "written for vocab_size 50257"),
        (lambda m: m["shards"].reverse(), "the manifest's shard list was reordered"),
    ],
)
def test_a_manifest_edited_to_disagree_with_its_shards_fails(small_set, edit, expected):
    """The shard files carry the tokenizer hash, vocabulary size, pack config and their place in the set: a manifest
    edited after the fact (checksums untouched, so they still match) no longer verifies."""
    out, manifest = small_set
    assert len(manifest["shards"]) > 1
    edit(manifest)
    write_manifest(out, manifest)
    report = verify_shard_set(out)
    assert not report.ok and expected in report.problem, report.problem


def test_any_unlisted_file_is_a_warning(small_set):
    out, _ = small_set
    (out / "notes.txt").write_text("not a shard")
    (out / "rows" / "extra.parquet").write_bytes(b"x")
    report = verify_shard_set(out)
    assert report.ok and {w.split(":")[0] for w in report.warnings} == {"notes.txt", "rows/extra.parquet"}
