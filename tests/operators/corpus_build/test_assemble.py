"""Build assembly on its own (partitions built in-process; the kept rows are packed in Ray workers): the first
copy in canonical order is kept and the later ones are quarantined naming it, weights sample and upsample by
document id, the counts equal lines counted straight from the input files, and the same partitions give the same
shard bytes in any build, packed in one group or in many."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from tests.operators.corpus_build import build_in_process
from tokenmill.operators.corpus_build import load_build_config
from tokenmill.operators.corpus_build.assemble import assemble_build
from tokenmill.operators.encode import resolve_eos_id


@pytest.fixture()
def corpus(tmp_path, shared_data):
    """Source "web" (eng, fra at weight 2) and source "copy" (weight 0.5): French lines, then 5 English lines that
    "web" already holds, then lines of its own."""
    eng = [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if l.strip()]
    own = [l for l in (shared_data / "text/udhr/deu.txt").read_text().splitlines() if l.strip()][:40]
    copy = tmp_path / "copy" / "mixed.txt"
    copy.parent.mkdir()
    copy.write_text("\n".join(eng[10:15] + own) + "\n")
    config = tmp_path / "corpus.yaml"
    config.write_text(
        json.dumps(
            {
                "output": str(tmp_path / "out"),
                "sources": [
                    {
                        "name": "web",
                        "weight": 2.0,
                        "ingest": {"format": "text", "lang_from": "filename"},
                        "input": [str(shared_data / "text/udhr/eng.txt"), str(shared_data / "text/udhr/fra.txt")],
                    },
                    {"name": "copy", "weight": 0.5, "ingest": {"format": "text"}, "input": [str(copy)]},
                ],
                "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
                "shards": {"pack": {"context_length": 256}},
            }
        )
    )
    cfg = load_build_config(str(config), {})
    cache = tmp_path / "cache"
    engine, partitions = build_in_process(cfg, cache)
    fra = [l for l in (shared_data / "text/udhr/fra.txt").read_text().splitlines() if l.strip()]
    # What dedup must find, counted from the raw lines in canonical order (UDHR repeats some lines itself)
    seen: set[str] = set()
    dups = {"web": 0, "copy": 0}
    for name, text in [("web", t) for t in eng + fra] + [("copy", t) for t in eng[10:15] + own]:
        dups[name] += text.strip() in seen
        seen.add(text.strip())
    lines = {"web": len(eng) + len(fra), "copy": 5 + len(own)}
    return cfg, engine, [p["key"] for p in partitions], cache, lines, dups


def assemble(corpus, staging, build_id="20260101T000000-00000000"):
    cfg, engine, keys, cache, _, _ = corpus
    staging.mkdir()
    return assemble_build(cfg, keys, cache, staging, engine, "run", build_id, previous=None, previous_dir=None)


def test_dedup_mix_and_counts(corpus, tmp_path, ray_local):
    _, _, _, _, lines, dups_expected = corpus
    summary = assemble(corpus, tmp_path / "b1")
    web, copy = summary["per_source"]["web"], summary["per_source"]["copy"]
    assert web["records_seen"] == lines["web"] and copy["records_seen"] == lines["copy"]  # counted from the files
    # web comes first: its copies of the shared lines are kept, copy's are the duplicates
    assert (web["duplicates"], copy["duplicates"]) == (dups_expected["web"], dups_expected["copy"]) and dups_expected["copy"] >= 5
    q = pq.read_table(tmp_path / "b1/quarantine.parquet").to_pylist()
    dups = [r for r in q if r["reason"] == "duplicate"]
    assert len(dups) == sum(dups_expected.values()) and all(r["detail"].startswith("same content as ") for r in dups)
    assert len([r for r in dups if r["source"].endswith("mixed.txt")]) == dups_expected["copy"]
    index = pq.read_table(tmp_path / "b1/documents.parquet").to_pylist()
    kept_ids = {r["id"] for r in index}
    assert all(r["detail"].removeprefix("same content as ") in kept_ids for r in dups)  # names a packed document
    # weight 2: every web document twice; weight 0.5: about half of copy's unique documents, the rest sampled out
    assert web["upsampled_copies"] == web["unique_documents"] and web["documents"] == 2 * web["unique_documents"]
    assert 0 < copy["sampled_out"] < copy["unique_documents"] and copy["documents"] == copy["unique_documents"] - copy["sampled_out"]
    assert len([r for r in q if r["reason"] == "sampled_out"]) == copy["sampled_out"]
    t = summary["totals"]
    assert t["documents"] == len(index) == t["unique_documents"] - t["sampled_out"] + t["upsampled_copies"]
    assert t["records_in"] == t["quarantined_read"] + t["unique_documents"] + t["duplicates"]


def test_same_partitions_same_bytes(corpus, tmp_path, ray_local):
    a = assemble(corpus, tmp_path / "b1", "20260101T000000-aaaaaaaa")
    b = assemble(corpus, tmp_path / "b2", "20260102T000000-bbbbbbbb")
    assert a["shard_sha256"] == b["shard_sha256"] and a["totals"] == b["totals"]
    digest = [hashlib.sha256((tmp_path / d / "documents.parquet").read_bytes()).hexdigest() for d in ("b1", "b2")]
    assert digest[0] == digest[1]


def test_groups_pack_in_workers_with_the_same_bytes_for_any_worker_count(corpus, tmp_path, ray_local):
    """Small groups (shard_tokens=3000): several groups packed by 1 or 3 workers give the same shard bytes and hold
    every kept document of the one-group build, each group packed within itself."""
    import dataclasses

    cfg, *rest = corpus
    one = assemble(corpus, tmp_path / "one")
    runs = []
    for workers in (1, 3):
        small = dataclasses.replace(cfg, workers=workers, shards=dataclasses.replace(cfg.shards, shard_tokens=3000))
        runs.append(assemble((small, *rest), tmp_path / f"w{workers}"))
        manifest = json.loads((tmp_path / f"w{workers}" / "shards/manifest.json").read_text())
        assert manifest["source"]["groups"] >= 3 and manifest["totals"]["cross_document_attention"] == 0
    assert runs[0]["shard_sha256"] == runs[1]["shard_sha256"] and runs[0]["totals"] == runs[1]["totals"]
    assert runs[0]["totals"]["documents"] == one["totals"]["documents"]
    assert runs[0]["totals"]["tokens"] == one["totals"]["tokens"]


def test_a_packer_refuses_rows_that_are_not_the_documents_assembly_chose(corpus, tmp_path):
    """The packer re-reads each partition: if its rows are not the ids the driver decided on (the cache changed
    between the two reads), it fails instead of packing other documents."""
    from tokenmill.operators.corpus_build.pack import GroupPacker
    from tokenmill.operators.corpus_build.partition import load_partition

    cfg, engine, keys, cache, _, _ = corpus
    _, tokens, _, _ = load_partition(cache / keys[0], keys[0], columns=["id"])
    ids = tokens["id"].to_pylist()[:3]
    packer = GroupPacker(
        cache_dir=str(cache),
        shards_dir=str(tmp_path / "shards"),
        shard_cfg=resolve_eos_id(cfg.shards, engine),  # as assemble_build resolves eos_id=auto before packing
        vocab_size=engine.vocab_size,
        tokenizer_hash=engine.sha256,
        run_id="run",
    )
    part = packer.pack(0, "ok", [{"key": keys[0], "rows": [0, 1, 2], "ids": ids, "tokens": 0}])
    assert part["pack_stats"]["docs_in"] == 3
    with pytest.raises(RuntimeError, match="changed during the build"):
        packer.pack(1, "bad", [{"key": keys[0], "rows": [0, 1, 2], "ids": [ids[1], ids[0], ids[2]], "tokens": 0}])
    assert not list((tmp_path / "shards").glob("shard-bad-*"))  # the failed group left no files
