"""ingest, pack_shards, dna_bpe and build_corpus with s3:// input and s3:// output, against a real S3-compatible
HTTP server (moto), configured only by the standard AWS environment; each compared with the same run on local files.

The s3 runs are the scripts as users start them (a process of their own, with its own embedded Ray), so the AWS
environment reaches the Ray workers the way it does for users. Document ids hash the source URI, so they differ
between a local and an s3 run of the same files; texts, tokens, tokenizers and token streams must not.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard

from tests import s3_server as server
from tokenmill.operators.shards import load_manifest, read_index, verify_shard_set
from tokenmill.operators.shards.fetch import cached_file
from tokenmill.operators.shards.megatron import open_bin
from tokenmill.pipelines import build_corpus, dna_bpe, ingest, pack_shards, verify_shards

from .test_pack_shards_determinism import _corpus as determinism_corpus

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LANGS = ("eng", "fra", "rus")
s3_server = server.s3_server  # the fixture: a real S3-compatible server for this module


@dataclass
class Store:
    bucket: str
    """``s3://name`` holding raw/*.jsonl.zst (UDHR) and dna/lambda_phage.fa."""
    raw: Path
    """The same files, locally."""
    env: dict


@pytest.fixture(scope="module")
def store(s3_server, shared_data, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        server.use_server(s3_server, mp)
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        bucket = server.new_bucket()
        fs = fsspec.filesystem("s3")
        raw = tmp_path_factory.mktemp("raw")
        for lang in LANGS:
            lines = [line for line in (shared_data / f"text/udhr/{lang}.txt").read_text().splitlines() if line.strip()]
            data = "".join(json.dumps({"text": line, "lang": lang}, ensure_ascii=False) + "\n" for line in lines)
            (raw / f"{lang}.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data.encode()))
            fs.put_file(str(raw / f"{lang}.jsonl.zst"), f"{bucket[5:]}/raw/{lang}.jsonl.zst")
        (raw / "dna").mkdir()
        (raw / "dna/lambda_phage.fa").write_bytes((shared_data / "dna/lambda_phage.fa").read_bytes())
        fs.put_file(str(raw / "dna/lambda_phage.fa"), f"{bucket[5:]}/dna/lambda_phage.fa")
        yield Store(bucket, raw, dict(os.environ))


def run_script(store: Store, script: str, *args: str) -> str:
    """Run ``pipelines/<script>.py`` as a user would, in its own process; return its stdout."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / f"{script}.py"), *args], cwd=ROOT, env=store.env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout


def remote_bytes(uri: str) -> bytes:
    with fsspec.open(uri, "rb") as fh:
        return fh.read()


def remote_table(pattern: str):
    fs, path = fsspec.core.url_to_fs(pattern)
    return [pq.read_table(io.BytesIO(fs.cat_file(p))) for p in sorted(fs.glob(path))]


def ledger_rows(uri_or_path: str, sql: str, tmp_path: Path) -> list[tuple]:
    local = tmp_path / f"ledger-{abs(hash(uri_or_path))}.duckdb"
    local.write_bytes(remote_bytes(uri_or_path) if "://" in uri_or_path else Path(uri_or_path).read_bytes())
    con = duckdb.connect(str(local), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def documents_of(shards: str | Path) -> list[tuple[int, ...]]:
    """Every document's token ids in a shard set (from .bin/.idx), in set order; local or s3 (verified copies)."""
    manifest = load_manifest(shards)
    docs: list[tuple[int, ...]] = []
    for shard in manifest["shards"]:
        files = {k: cached_file(str(shards), f) if "://" in str(shards) else Path(shards) / f["path"] for k, f in shard["files"].items() if k in ("bin", "idx")}
        index = read_index(files["idx"])
        tokens = open_bin(files["bin"], index.dtype)
        starts = index.pointers // index.dtype.itemsize
        docs += [tuple(tokens[s : s + n].tolist()) for s, n in zip(starts, index.lengths)]
    return docs


def test_ingest_then_pack_from_s3_documents(store, tmp_path, ray_local, shared_data):
    b = store.bucket
    run_script(store, "ingest", "--input", f"{b}/raw/*.jsonl.zst", "--output", f"{b}/ingest", "--quiet")
    local = tmp_path / "ingest"
    assert ingest.main(["--input", str(store.raw / "*.jsonl.zst"), "--output", str(local), "--quiet"]) == 0
    remote_docs = sorted((r["text"], r["lang"], r["location"]) for t in remote_table(f"{b}/ingest/documents/*.parquet") for r in t.to_pylist())
    local_docs = sorted((r["text"], r["lang"], r["location"]) for t in map(pq.read_table, sorted(local.glob("documents/*.parquet"))) for r in t.to_pylist())
    assert remote_docs == local_docs and len(remote_docs) > 250
    assert all(t.schema.metadata == pq.read_schema(next(local.glob("documents/*.parquet"))).metadata for t in remote_table(f"{b}/ingest/documents/*.parquet"))
    # the remote ledger records the s3 inputs with the same content fingerprints as the local files
    sql = "SELECT uri, size, fingerprint FROM inputs ORDER BY uri"
    remote_inputs = ledger_rows(f"{b}/ingest/ledger.duckdb", sql, tmp_path)
    local_inputs = ledger_rows(str(local / "ledger.duckdb"), sql, tmp_path)
    assert [u for u, _, _ in remote_inputs] == [f"{b}/raw/{lang}.jsonl.zst" for lang in LANGS]
    assert [r[1:] for r in remote_inputs] == [r[1:] for r in local_inputs]
    # a documents folder on s3 is input for pack_shards as a local one is (ids kept, nothing re-ingested)
    tok = str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")
    run_script(
        store,
        "pack_shards",
        "--input",
        f"{b}/ingest/documents",
        "--tokenizer",
        tok,
        "--output",
        f"{b}/from_docs",
        "--quiet",
        "--set",
        "shards.pack.context_length=512",
    )
    report = verify_shard_set(f"{b}/from_docs/shards")
    assert report.ok, report.problem
    assert report.totals["documents"] == len(remote_docs)


def test_pack_shards_s3_in_and_out_matches_local(store, tmp_path, ray_local, shared_data, capsys):
    b, tok = store.bucket, str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")
    common = ["--tokenizer", tok, "--quiet", "--set", "shards.pack.context_length=512", "--set", "partition_bytes=1048576"]
    out = run_script(store, "pack_shards", "--input", f"{b}/raw/*.jsonl.zst", "--output", f"{b}/packed", *common)
    assert f"shards: {b}/packed/shards" in out
    local = tmp_path / "packed"
    assert pack_shards.main(["--input", str(store.raw / "*.jsonl.zst"), "--output", str(local), *common]) == 0
    capsys.readouterr()
    assert verify_shards.main([f"{b}/packed/shards"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {b}/packed/shards")
    remote_manifest, local_manifest = load_manifest(f"{b}/packed/shards"), load_manifest(local / "shards")
    assert remote_manifest["totals"] == local_manifest["totals"]
    # the token stream is byte-identical: every .bin and .idx, shard by shard
    for rs, ls in zip(remote_manifest["shards"], local_manifest["shards"], strict=True):
        for kind in ("bin", "idx"):
            assert rs["files"][kind]["sha256"] == ls["files"][kind]["sha256"]
            assert remote_bytes(f"{b}/packed/shards/{rs['files'][kind]['path']}") == (local / "shards" / ls["files"][kind]["path"]).read_bytes()
    assert not fsspec.filesystem("s3").glob(f"{b[5:]}/packed/.staging-*")  # local staging never reaches the store
    assert ledger_rows(f"{b}/packed/ledger.duckdb", "SELECT status FROM runs", tmp_path) == [("succeeded",)]
    artifacts = ledger_rows(f"{b}/packed/ledger.duckdb", "SELECT path, sha256 FROM artifacts ORDER BY path", tmp_path)
    listed = {f"{b}/packed/shards/{f['path']}": f["sha256"] for s in remote_manifest["shards"] for f in s["files"].values()}
    assert {p: h for p, h in artifacts if p in listed} == listed  # named where they are read, not where staged
    assert all(p.startswith(f"{b}/packed/") for p, _ in artifacts)


@pytest.fixture
def short_tmp():
    """A short temp folder: Ray puts its sockets under TMPDIR, and a socket path has at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="tm-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_pack_shards_on_three_nodes_without_a_shared_disk(store, tmp_path, shared_data, short_tmp):
    """Each node's temp dir is its own and the driver's staging folder is on no node's path: the workers upload
    their shard parts themselves, and the shards are the bytes of a local one-process run."""
    b, tok = store.bucket, str(shared_data / "tokenizers/gpt2")
    inputs = determinism_corpus(tmp_path / "corpus", shared_data)  # five inputs: several 1 MiB partitions
    common = ["--tokenizer", tok, "--set", "shards.pack.context_length=512", "--set", "partition_bytes=1048576", "--set", "shards.shard_tokens=60000"]
    nodes, driver = short_tmp / "n", short_tmp / "d"
    env = {**store.env, "NODE_TMPDIRS": str(nodes), "TMPDIR": str(driver)}
    env.pop("RAY_ADDRESS", None)
    driver.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/pipelines/cluster_run.py"),
            "pack_shards",
            "--input",
            *inputs,
            "--output",
            f"{b}/nodes",
            "--set",
            "workers=3",
            *common,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0 and '"rc": 0' in proc.stdout, proc.stderr[-6000:]
    assert '"nodes": 3' in proc.stdout
    # 1-CPU workers, each uploading its own parts from its node's temp dir (even the head node's is not the driver's);
    # how many nodes got partitions is Ray's choice
    uploaded = re.search(r"workers on (\d) node\(s\) uploaded (\d+) files", proc.stderr)
    assert uploaded and int(uploaded[1]) >= 1 and int(uploaded[2]) > 0, proc.stderr[-3000:]
    local = tmp_path / "local"
    assert pack_shards.main(["--input", *inputs, "--output", str(local), "--quiet", "--set", "workers=1", *common]) == 0
    remote_manifest, local_manifest = load_manifest(f"{b}/nodes/shards"), load_manifest(local / "shards")
    assert remote_manifest["totals"] == local_manifest["totals"] and len(remote_manifest["shards"]) >= 3
    for rs, ls in zip(remote_manifest["shards"], local_manifest["shards"], strict=True):
        for kind in ("bin", "idx"):
            assert remote_bytes(f"{b}/nodes/shards/{rs['files'][kind]['path']}") == (local / "shards" / ls["files"][kind]["path"]).read_bytes()
    assert verify_shards.main([f"{b}/nodes/shards"]) == 0
    fs = fsspec.filesystem("s3")
    assert not fs.glob(f"{b[5:]}/nodes/.staging-*")  # the run's remote staging prefix is gone
    assert not [p for p in driver.rglob("*") if p.suffix in (".bin", ".idx")]  # no shard ever on the driver
    for node in nodes.iterdir():  # nothing left in the nodes' private folders
        assert not [p for p in node.rglob("tokenmill-part-*/**/*") if p.is_file()]


def test_dna_bpe_s3_in_and_out_matches_local(store, tmp_path, ray_local):
    b = store.bucket
    common = ["--quiet", "--set", "vocab_size=300", "--set", "shards.pack.context_length=1024"]
    run_script(store, "dna_bpe", "--input", f"{b}/dna/*.fa", "--output", f"{b}/dna_out", *common)
    local = tmp_path / "dna_out"
    assert dna_bpe.main(["--input", str(store.raw / "dna/*.fa"), "--output", str(local), *common]) == 0
    assert remote_bytes(f"{b}/dna_out/tokenizer/tokenizer.json") == (local / "tokenizer/tokenizer.json").read_bytes()
    report = verify_shard_set(f"{b}/dna_out/shards")
    assert report.ok, report.problem
    assert documents_of(f"{b}/dna_out/shards") == documents_of(local / "shards")
    assert json.loads(remote_bytes(f"{b}/dna_out/report.json"))["bp_per_token"] == json.loads((local / "report.json").read_text())["bp_per_token"]


def test_build_corpus_s3_publishes_build_then_current(store, tmp_path, ray_local, shared_data):
    b, tok = store.bucket, str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")

    def config(inputs: str, output: str) -> Path:
        path = tmp_path / f"corpus-{abs(hash(output))}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "output": output,
                    "tokenizer": {"path": tok},
                    "keep_builds": 1,
                    "sources": [{"name": "udhr", "input": [inputs]}],
                    "shards": {"pack": {"context_length": 1024}},
                }
            )
        )
        return path

    remote_cfg = config(f"{b}/raw/*.jsonl.zst", f"{b}/corpus")
    first = run_script(store, "build_corpus", "--config", str(remote_cfg), "--quiet")
    build_id = remote_bytes(f"{b}/corpus/builds/CURRENT.id").decode().strip()
    assert f"published: {b}/corpus/builds/{build_id}" in first
    summary = json.loads(remote_bytes(f"{b}/corpus/builds/{build_id}/build.json"))
    assert summary["build_id"] == build_id and summary["cache"]["misses"] == summary["cache"]["partitions"] > 0
    report = verify_shard_set(f"{b}/corpus/builds/{build_id}/shards")
    assert report.ok, report.problem
    fs = fsspec.filesystem("s3")
    assert not fs.exists(f"{b[5:]}/corpus/builds/CURRENT") and not fs.glob(f"{b[5:]}/corpus/cache/*")
    local = tmp_path / "corpus"
    assert build_corpus.main(["--config", str(config(str(store.raw / "*.jsonl.zst"), str(local))), "--quiet"]) == 0
    local_id = (local / "builds/CURRENT.id").read_text().strip()
    assert sorted(documents_of(f"{b}/corpus/builds/{build_id}/shards")) == sorted(documents_of(local / "builds" / local_id / "shards"))
    assert report.totals == load_manifest(local / "builds" / local_id / "shards")["totals"]
    # the local state (cache, lock) stays local: a rebuild from it is up to date and publishes nothing new
    again = run_script(store, "build_corpus", "--config", str(remote_cfg), "--quiet")
    assert "up to date" in again and remote_bytes(f"{b}/corpus/builds/CURRENT.id").decode().strip() == build_id
    runs = ledger_rows(f"{b}/corpus/ledger.duckdb", "SELECT status FROM runs", tmp_path)
    assert runs == [("succeeded",), ("succeeded",)]
