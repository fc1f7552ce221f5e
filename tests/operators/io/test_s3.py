"""Object storage without Ray, against a real S3-compatible HTTP server (moto): inputs read exactly as local files,
shard sets committed in order (parts, then the manifest), verified and read back; a prefix without a manifest is
no shard set; a crashed upload leaves the previous set readable and the next commit collects its parts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pytest
import zstandard

from tests import s3_server as server
from tokenmill.operators.core.cli import fail_before_start
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.encode import load_engine
from tokenmill.operators.io import IngestConfig, ReadTask, expand_parquet_folders, fingerprint, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.remote import cache_root, commit_order, local_files, stage_output, upload_output
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardSet, ShardWriter, ShardWriterConfig, load_manifest, verify_shard_set
from tokenmill.pipelines import verify_shards

s3_server, s3 = server.s3_server, server.s3  # the fixtures: a real S3-compatible server, a fresh bucket on it

LANGS = ("eng", "fra", "rus")


def _put_udhr(shared_data: Path, local: Path, bucket: str) -> None:
    """UDHR lines as JSONL (plain, big enough to split into byte ranges) and JSONL.zst, here and in the bucket."""
    fs = fsspec.filesystem("s3")
    local.mkdir()
    for lang in LANGS:
        lines = [line for line in (shared_data / f"text/udhr/{lang}.txt").read_text().splitlines() if line.strip()]
        data = "".join(json.dumps({"text": line}, ensure_ascii=False) + "\n" for line in lines).encode()
        (local / f"{lang}.jsonl").write_bytes(data)
        (local / f"{lang}.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
        for name in (f"{lang}.jsonl", f"{lang}.jsonl.zst"):
            fs.put_file(str(local / name), f"{bucket[5:]}/raw/{name}")


def _read(patterns: list[str], split_bytes: int) -> tuple[list[dict], list]:
    files = resolve_inputs(patterns)
    tasks = plan_read_tasks(files, split_bytes)
    reader = ReadTask(IngestConfig())
    rows = pa.concat_tables(list(reader(pa.Table.from_pylist(tasks)))).to_pylist()
    return rows, reader.receipts


def test_s3_inputs_resolve_and_read_like_local_files(s3, shared_data, tmp_path):
    _put_udhr(shared_data, tmp_path / "raw", s3)
    remote = resolve_inputs([f"{s3}/raw/*.jsonl.zst", f"{s3}/raw/*.jsonl"])
    local = resolve_inputs([str(tmp_path / "raw/*.jsonl.zst"), str(tmp_path / "raw/*.jsonl")])
    assert [f.uri for f in remote] == sorted(f"{s3}/raw/{lang}{ext}" for lang in LANGS for ext in (".jsonl", ".jsonl.zst"))
    assert [(f.size, f.format, f.compression) for f in remote] == [(f.size, f.format, f.compression) for f in local]
    assert all(f.mtime > 0 for f in remote)  # S3's LastModified, for the ledger
    assert [fingerprint(f.uri) for f in remote] == [fingerprint(f.uri) for f in local]
    # uncompressed files split into byte ranges read over HTTP ranges; compressed ones stream whole
    split = 4096
    assert len(plan_read_tasks(remote, split)) > len(remote)
    for pattern in ("raw/*.jsonl", "raw/*.jsonl.zst"):
        rows_s3, receipts_s3 = _read([f"{s3}/{pattern}"], split)
        rows_local, receipts_local = _read([str(tmp_path / pattern)], split)
        assert [(r["text"], r["location"]) for r in rows_s3] == [(r["text"], r["location"]) for r in rows_local]
        assert [r["seen"] for r in receipts_s3] == [r["seen"] for r in receipts_local]
        assert len(rows_s3) > 250
    with pytest.raises(ConfigError, match="matched no files"):
        resolve_inputs([f"{s3}/raw/*.parquet"])
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_inputs([f"{s3}/raw"])


def test_remote_folder_of_parquet_stands_for_its_files(s3, tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "part-0.parquet")
    fsspec.filesystem("s3").put_file(str(tmp_path / "part-0.parquet"), f"{s3[5:]}/docs/part-0.parquet")
    assert expand_parquet_folders([f"{s3}/docs", f"{s3}/other/*.jsonl"]) == [f"{s3}/docs/*.parquet", f"{s3}/other/*.jsonl"]


def _write_set(out_dir: Path, shared_data: Path, langs: tuple[str, ...], run_id: str) -> dict:
    """A shard set of real tokens: UDHR lines encoded with BERT's tokenizer, several shards, both formats."""
    engine = load_engine(str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json"))
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=128), shard_tokens=1000)
    with ShardWriter(out_dir, cfg, vocab_size=engine.vocab_size, tokenizer_hash=engine.sha256, run_id=run_id) as writer:
        for lang in langs:
            lines = [line for line in (shared_data / f"text/udhr/{lang}.txt").read_text().splitlines() if line.strip()]
            for i, ids in enumerate(engine.encode_batch(lines)):
                writer.add(f"{lang}-{i}", ids)
    assert writer.manifest is not None and writer.manifest["totals"]["shards"] > 1
    return writer.manifest


def _rows(shard_set: ShardSet) -> list[tuple]:
    return [(tuple(r["input_ids"].tolist()), tuple(r["cu_seqlens"].tolist()), tuple(r["doc_ids"])) for r in (shard_set.row(i) for i in range(len(shard_set)))]


def test_shard_set_commits_verifies_and_reads_back_from_s3(s3, shared_data, tmp_path, capsys):
    staging = tmp_path / "out"
    manifest = _write_set(staging / "shards", shared_data, LANGS, "run-a")
    uploaded = upload_output(staging, f"{s3}/out")
    parts = [n for n in uploaded if n != "shards/manifest.json"]
    assert uploaded == commit_order(local_files(staging)) and uploaded[-1] == "shards/manifest.json" and parts
    report = verify_shard_set(f"{s3}/out/shards")
    assert report.ok, report.problem
    assert report.totals == manifest["totals"] and not report.warnings
    assert verify_shards.main([f"{s3}/out/shards"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {s3}/out/shards")
    remote, local = ShardSet(f"{s3}/out/shards"), ShardSet(staging / "shards")
    assert len(remote) == len(local) > 0
    assert _rows(remote) == _rows(local)
    sample = remote.sample(len(remote) - 1)
    assert np.array_equal(sample["input_ids"].numpy(), local.sample(len(local) - 1)["input_ids"].numpy())

    # the store's bytes change under the manifest: verify names the file, the reader refuses the copy
    victim = next(f for f in manifest["shards"][1]["files"].values() if f["path"].endswith(".bin"))
    fs = fsspec.filesystem("s3")
    data = bytearray(fs.cat_file(f"{s3[5:]}/out/shards/{victim['path']}"))
    data[10] ^= 0xFF
    fs.pipe_file(f"{s3[5:]}/out/shards/{victim['path']}", bytes(data))
    bad = verify_shard_set(f"{s3}/out/shards")
    assert not bad.ok and victim["path"] in bad.problem and "sha256" in bad.problem
    assert verify_shards.main([f"{s3}/out/shards"]) == 1
    assert _rows(ShardSet(f"{s3}/out/shards")) == _rows(local)  # verified copies in the cache are still good
    shutil.rmtree(cache_root() / "shards")  # an empty cache: the damaged bytes are fetched, and refused
    fresh = ShardSet(f"{s3}/out/shards")
    with pytest.raises(ValueError, match="sha256"):
        fresh.row(int(fresh.row_starts[1]))


def test_prefix_with_parts_but_no_manifest_is_absent(s3, shared_data, tmp_path):
    staging = tmp_path / "out"
    _write_set(staging / "shards", shared_data, ("eng",), "run-a")
    fs = fsspec.filesystem("s3")
    names = commit_order(local_files(staging))
    for name in names[:-1]:  # an upload that died just before the manifest
        fs.put_file(str(staging / name), f"{s3[5:]}/out/{name}")
    assert names[-1] == "shards/manifest.json" and fs.find(f"{s3[5:]}/out/shards")
    with pytest.raises(ValueError, match="no manifest"):
        load_manifest(f"{s3}/out/shards")
    report = verify_shard_set(f"{s3}/out/shards")
    assert not report.ok and "no manifest" in report.problem
    with pytest.raises(ValueError, match="no complete shard set"):
        ShardSet(f"{s3}/out/shards")


def test_crashed_recommit_keeps_previous_set_and_next_commit_collects_it(s3, shared_data, tmp_path):
    fs = fsspec.filesystem("s3")
    first = _write_set(tmp_path / "a/shards", shared_data, ("eng",), "run-a")
    upload_output(tmp_path / "a", f"{s3}/out")
    fs.pipe_file(f"{s3[5:]}/out/shards/NOTES.txt", b"a file of the user's, never collected\n")
    second = _write_set(tmp_path / "b/shards", shared_data, ("fra", "rus"), "run-b")
    names = commit_order(local_files(tmp_path / "b"))
    for name in names[:-1]:  # the second commit dies after its parts, before its manifest
        fs.put_file(str(tmp_path / "b" / name), f"{s3[5:]}/out/{name}")
    report = verify_shard_set(f"{s3}/out/shards")
    assert report.ok and report.totals == first["totals"]  # readers still see the first set, whole
    assert {w.split(":")[0] for w in report.warnings} == {n[len("shards/") :] for n in names[:-1]}
    # the next commit of the second set completes it and removes the first set's parts, and only ours
    upload_output(tmp_path / "b", f"{s3}/out")
    report = verify_shard_set(f"{s3}/out/shards")
    assert report.ok and report.totals == second["totals"] and not report.warnings
    remaining = {p.split("/out/shards/", 1)[1] for p in fs.find(f"{s3[5:]}/out/shards")}
    listed = {f["path"] for s in second["shards"] for f in s["files"].values()}
    assert remaining == listed | {"manifest.json", "NOTES.txt"}


def _ledger_rows(uri: str, sql: str, tmp_path: Path) -> list[tuple]:
    import duckdb

    local = tmp_path / "ledger-copy.duckdb"
    local.write_bytes(fsspec.filesystem("s3").cat_file(uri[5:]))
    con = duckdb.connect(str(local), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_staged_output_uploads_only_a_successful_run(s3, tmp_path):
    from tokenmill.operators.ledger import Ledger

    fs = fsspec.filesystem("s3")
    with pytest.raises(RuntimeError, match="the run failed"), fail_before_start(stage_output(f"{s3}/o")) as out:
        ledger = Ledger(out / "ledger.duckdb")
        ledger.start_run("first", {})
        (out / "documents").mkdir()
        (out / "documents/part-0.parquet").write_bytes(b"half written")
        ledger.finish_run("failed", "the run failed")
        ledger.close()
        raise RuntimeError("the run failed")
    assert not out.exists()  # the staging folder is removed either way
    assert sorted(fs.find(f"{s3[5:]}/o")) == [f"{s3[5:]}/o/ledger.duckdb"]  # the failure is recorded, no data
    with fail_before_start(stage_output(f"{s3}/o")) as out:
        ledger = Ledger(out / "ledger.duckdb")  # the history continues
        ledger.start_run("second", {})
        (out / "documents").mkdir()
        (out / "documents/part-0.parquet").write_bytes(b"complete")
        (out / "documents/.tokenmill").write_text('{"format": "tokenmill output v1"}')
        ledger.add_artifact(out / "documents", "documents")
        ledger.finish_run("succeeded")
        ledger.close()
    assert fs.cat_file(f"{s3[5:]}/o/documents/part-0.parquet") == b"complete"
    assert _ledger_rows(f"{s3}/o/ledger.duckdb", "SELECT status FROM runs ORDER BY started", tmp_path) == [("failed",), ("succeeded",)]
    # artifacts are named where they are read, not in the staging folder that is gone
    paths = [p for (p,) in _ledger_rows(f"{s3}/o/ledger.duckdb", "SELECT path FROM artifacts ORDER BY path", tmp_path)]
    assert paths == [f"{s3}/o/documents/.tokenmill", f"{s3}/o/documents/part-0.parquet"]


def test_a_remote_folder_tokenmill_did_not_write_is_never_replaced(s3, tmp_path):
    fs = fsspec.filesystem("s3")
    fs.pipe_file(f"{s3[5:]}/o/documents/theirs.parquet", b"someone else's data")
    staging = tmp_path / "staging"
    (staging / "documents").mkdir(parents=True)
    (staging / "documents/ours.parquet").write_bytes(b"ours")
    (staging / "documents/.tokenmill").write_text('{"format": "tokenmill output v1"}')
    with pytest.raises(ConfigError, match="not written by tokenmill"):
        upload_output(staging, f"{s3}/o")
    assert fs.find(f"{s3[5:]}/o") == [f"{s3[5:]}/o/documents/theirs.parquet"]


def test_an_output_in_the_way_or_out_of_reach_fails_before_the_run(s3, monkeypatch, capsys):
    fsspec.filesystem("s3").pipe_file(f"{s3[5:]}/o/quarantine/theirs.parquet", b"someone else's data")
    with pytest.raises(SystemExit) as exit_info, fail_before_start(stage_output(f"{s3}/o")):
        raise AssertionError("the run must not start")
    assert exit_info.value.code == 2 and "quarantine exists and was not written by tokenmill" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server._free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    server.use_server({}, monkeypatch)
    with pytest.raises(SystemExit) as exit_info, fail_before_start(stage_output(f"{s3}/elsewhere")):
        raise AssertionError("the run must not start")
    assert exit_info.value.code == 2 and "cannot reach it" in capsys.readouterr().err


def test_remote_retention_removes_only_marked_builds(s3):
    """Builds beyond keep_builds go, oldest first, but only folders tokenmill marked (build.json of our format with
    that id): a user's folder that merely looks like a build id, or one with a foreign build.json, stays."""
    from tokenmill.operators.corpus_build.publish import BUILD_FORMAT
    from tokenmill.operators.io.remote import _stale_builds, remote_fs

    fs, root = remote_fs(s3 + "/out")
    ids = ["20260101T000000-aaaaaaaa", "20260102T000000-bbbbbbbb", "20260103T000000-cccccccc"]
    for build_id in ids:
        fs.pipe_file(f"{root}/builds/{build_id}/build.json", json.dumps({"format": BUILD_FORMAT, "build_id": build_id}).encode())
        fs.pipe_file(f"{root}/builds/{build_id}/shards/manifest.json", b"{}")
    fs.pipe_file(f"{root}/builds/20250101T000000-dddddddd/build.json", json.dumps({"format": "mine"}).encode())
    fs.pipe_file(f"{root}/builds/20250102T000000-eeeeeeee/notes.txt", b"a user's folder")
    stale = _stale_builds(fs, root, current=ids[2], keep=1)
    assert stale == sorted(f"builds/{b}/{f}" for b in ids[:2] for f in ("build.json", "shards/manifest.json"))
