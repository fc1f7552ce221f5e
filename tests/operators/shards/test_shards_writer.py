"""ShardWriter: round trips for uint16 and int32 vocabularies, manifest contents, Arrow input, re-commit."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from tests.operators.shards.shard_helpers import write_set
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardSet, ShardWriter, ShardWriterConfig, commit_shards, load_manifest, verify_shard_set
from tokenmill.operators.shards.manifest import sha256_file


def docs_from_reader(directory, source):
    """Rebuild documents from every row the reader yields (segments joined by doc id and offset)."""
    shards = ShardSet(directory, source=source)
    pieces: dict[str, list] = {}
    for i in range(shards.num_rows):
        s = shards.sample(i, with_doc_info=True)
        cu = s["cu_seqlens"].numpy()
        for k, (doc_id, off) in enumerate(zip(s["doc_ids"], s["doc_offsets"].tolist())):
            pieces.setdefault(doc_id, []).append((off, s["input_ids"][cu[k] : cu[k + 1]].numpy()))
    return {d: np.concatenate([p for _, p in sorted(v, key=lambda t: t[0])]) for d, v in pieces.items()}


@pytest.mark.parametrize("vocab_size,shift,dtype", [(50257, 0, "uint16"), (120_000, 69_000, "int32")])
@pytest.mark.parametrize("source", ["megatron", "parquet"])
def test_round_trip(tmp_path, udhr_docs, vocab_size, shift, dtype, source):
    docs = [(d, ids + shift) for d, ids in udhr_docs[:250]]
    manifest = write_set(tmp_path, docs, vocab_size=vocab_size, pack={"context_length": 128, "buffer_docs": 40}, shard_tokens=6000)
    assert manifest["token_dtype"] == dtype
    assert manifest["totals"]["shards"] > 2
    assert any(len(ids) > 128 for _, ids in docs)  # split documents cross rows
    got = docs_from_reader(tmp_path, source)
    assert set(got) == {d for d, ids in docs if len(ids)}
    for doc_id, ids in docs:
        if len(ids):
            np.testing.assert_array_equal(got[doc_id], ids)
    assert verify_shard_set(tmp_path).ok


def test_manifest_contents(small_set):
    out, manifest = small_set
    assert json.loads((out / "manifest.json").read_text()) == manifest == load_manifest(out)
    assert manifest["format"] == "tokenmill shards v1"
    assert manifest["tokenizer"] == {"hash": "sha256:gpt2-test", "vocab_size": 50257}
    assert manifest["token_dtype"] == "uint16" and manifest["context_length"] == 256
    assert manifest["run_id"] == "test-run"
    assert manifest["config"]["pack"]["eos_id"] == 50256 and manifest["formats"] == ["megatron", "parquet"]
    t = manifest["totals"]
    assert t["documents"] == 300 and t["cross_document_attention"] == 0
    assert t["tokens"] == manifest["pack_stats"]["tokens"] == manifest["pack_stats"]["tokens_in"] + 300  # + EOS each
    assert t["slots"] == t["rows"] * 256 and t["tokens"] + t["pad_tokens"] == t["slots"]
    assert t["utilization"] == pytest.approx(t["tokens"] / t["slots"])
    for shard in manifest["shards"]:
        assert set(shard["files"]) == {"bin", "idx", "plan", "rows"}
        for f in shard["files"].values():
            path = out / f["path"]
            assert path.stat().st_size == f["bytes"] and sha256_file(path) == f["sha256"]
    # Nothing but the set and its manifest is left behind (no temporaries).
    listed = {f["path"] for s in manifest["shards"] for f in s["files"].values()}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == listed | {"manifest.json"}


def test_add_table_equals_add(tmp_path, udhr_docs):
    docs = udhr_docs[:120]
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=256, buffer_docs=32), formats=("parquet",))
    table = pa.table({"doc_id": [d for d, _ in docs], "input_ids": pa.array([ids.tolist() for _, ids in docs], pa.list_(pa.int32()))})
    with ShardWriter(tmp_path / "a", cfg, vocab_size=50257, tokenizer_hash="h", run_id="r") as w:
        for batch in table.to_batches(max_chunksize=25):
            w.add_table(batch)
    b = write_set(tmp_path / "b", docs, pack={"context_length": 256, "buffer_docs": 32}, formats=("parquet",))
    assert w.manifest["totals"] == b["totals"]
    sa, sb = ShardSet(tmp_path / "a"), ShardSet(tmp_path / "b")
    for i in range(sa.num_rows):
        np.testing.assert_array_equal(sa.row(i)["input_ids"], sb.row(i)["input_ids"])
    with pytest.raises(ValueError, match="ShardWriter.add_table: missing column"):
        ShardWriter(tmp_path / "c", cfg, vocab_size=50257, tokenizer_hash="h", run_id="r").add_table(pa.table({"doc_id": ["x"]}))


def test_bad_input_is_rejected(tmp_path):
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=16))
    w = ShardWriter(tmp_path, cfg, vocab_size=100, tokenizer_hash="h", run_id="r")
    with pytest.raises(ValueError, match="'doc-b' has token id 100 outside"):
        w.add_batch(["doc-a", "doc-b"], np.array([1, 2, 3, 100]), np.array([0, 2, 4]))
    with pytest.raises(ValueError, match="pad_id=300 is not below vocab_size"):
        ShardWriter(tmp_path, ShardWriterConfig(pack=PackerConfig(pad_id=300)), vocab_size=100, tokenizer_hash="h", run_id="r")
    with pytest.raises(ValueError, match="formats"):
        ShardWriterConfig(formats=("orc",))


def test_recommit_replaces_the_old_set(tmp_path, udhr_docs):
    first = write_set(tmp_path, udhr_docs[:100], pack={"context_length": 128}, shard_tokens=3000)
    second = write_set(tmp_path, udhr_docs[100:160], pack={"context_length": 128}, shard_tokens=3000, run_id="second")
    old = {f["path"] for s in first["shards"] for f in s["files"].values()}
    new = {f["path"] for s in second["shards"] for f in s["files"].values()}
    assert not old & new  # a new set never overwrites a file the previous manifest lists
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()} == new | {"manifest.json"}
    assert load_manifest(tmp_path)["run_id"] == "second" and verify_shard_set(tmp_path).ok


def test_parallel_parts_then_one_commit(tmp_path, udhr_docs):
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=128, buffer_docs=32), shard_tokens=4000)
    parts = []
    for k in range(3):  # e.g. one writer per Ray worker, each on its own slice of the documents
        w = ShardWriter(tmp_path, cfg, vocab_size=50257, tokenizer_hash="h", run_id="r", commit=False)
        for doc_id, ids in udhr_docs[k::3][:60]:
            w.add(doc_id, ids)
        parts.append(w.close())
    assert not (tmp_path / "manifest.json").exists()
    manifest = commit_shards(tmp_path, parts, config=cfg, vocab_size=50257, tokenizer_hash="h", run_id="r")
    assert manifest["totals"]["documents"] == 180 == manifest["pack_stats"]["docs_in"]
    assert verify_shard_set(tmp_path).ok


def test_exception_inside_with_aborts(tmp_path, udhr_docs):
    write_set(tmp_path, udhr_docs[:50], pack={"context_length": 128})
    before = (tmp_path / "manifest.json").read_bytes()
    files_before = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=128), shard_tokens=500)
    with pytest.raises(RuntimeError), ShardWriter(tmp_path, cfg, vocab_size=50257, tokenizer_hash="h", run_id="r2") as w:
        for doc_id, ids in udhr_docs[50:150]:
            w.add(doc_id, ids)
        raise RuntimeError("upstream failed")
    assert (tmp_path / "manifest.json").read_bytes() == before
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()} == files_before
