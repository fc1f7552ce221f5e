"""pipelines/pack_shards.py with ``ingest.quality.preset=fineweb`` on raw web-like JSONL: the shards hold exactly the
documents ingest keeps, OUT/filtered holds the rest, and the counts reconcile (in = packed + quarantined + filtered)."""

from __future__ import annotations

import collections
import json

import duckdb
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.encode import load_engine
from tokenmill.operators.shards import verify_shard_set
from tokenmill.pipelines import ingest, pack_shards

from .web_corpus import web_documents


def _corpus(tmp_path, shared_data, n=120):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pages = [text for _, text in web_documents(shared_data, n, seed=5)]
    with open(corpus / "web.jsonl", "w") as f:
        for i, text in enumerate(pages):
            f.write(json.dumps({"text": text}) + "\n")
            if i == 7:
                f.write("{not json\n")  # broken input: quarantined, not filtered
    return corpus / "web.jsonl", len(pages)


def test_pack_shards_filters_like_ingest(tmp_path, shared_data, ray_local):
    web, pages = _corpus(tmp_path, shared_data)
    tok = str(shared_data / "tokenizers/gpt2")
    sets = ["--set", "ingest.quality.preset=fineweb", "--set", "shards.pack.context_length=256"]
    out = tmp_path / "packed"
    assert pack_shards.main(["--input", str(web), "--tokenizer", tok, "--output", str(out), "--quiet", *sets, "--set", "write_documents=true"]) == 0
    assert verify_shard_set(out / "shards").ok
    manifest = json.loads((out / "shards/manifest.json").read_text())
    filtered, quarantine = pq.read_table(out / "filtered"), pq.read_table(out / "quarantine")
    assert json.loads((out / "filtered/.tokenmill").read_text())["kind"] == "filtered"
    kept = manifest["totals"]["documents"]
    assert kept + quarantine.num_rows + filtered.num_rows == pages + 1 and quarantine.num_rows == 1 and 0 < filtered.num_rows < pages
    # the same decisions as ingest with the same settings: the same documents kept, the same rows filtered and why
    docs_out = tmp_path / "ingested"
    assert ingest.main(["--input", str(web), "--output", str(docs_out), "--quiet", "--set", "ingest.quality.preset=fineweb"]) == 0
    ingested = pq.read_table(docs_out / "documents")
    assert sorted(pq.read_table(out / "documents")["text"].to_pylist()) == sorted(ingested["text"].to_pylist())
    assert collections.Counter(filtered["reason"].to_pylist()) == collections.Counter(pq.read_table(docs_out / "filtered")["reason"].to_pylist())
    engine = load_engine(tok)
    assert manifest["totals"]["tokens"] == sum(len(ids) + 1 for ids in engine.encode_batch(ingested["text"].to_pylist()))  # + EOS each
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    by_rule = dict(con.execute("SELECT reason, sum(count) FROM filter_reasons GROUP BY reason").fetchall())
    counts = con.execute("SELECT records_seen, records_out, records_quarantined FROM source_counts").fetchall()
    edits = dict(con.execute("SELECT kind, sum(count) FROM text_edits GROUP BY kind").fetchall())
    con.close()
    assert by_rule == dict(collections.Counter(filtered["reason"].to_pylist()))
    assert counts == [(pages + 1, kept, 1)]
    assert edits.get("c4_lines_min_words_per_line", 0) > 0  # lines C4 removed from kept documents, counted as in ingest


@pytest.mark.slow
def test_pack_shards_with_filters_same_bytes_for_1_and_2_workers(tmp_path, shared_data, ray_local):
    web, _ = _corpus(tmp_path, shared_data, n=3000)  # ~3 MB: three 1 MiB partitions
    tok = str(shared_data / "tokenizers/gpt2")
    sets = ["--set", "ingest.quality.preset=fineweb", "--set", "shards.pack.context_length=256"]
    sets += ["--set", "ingest.split_bytes=1048576", "--set", "partition_bytes=1048576"]
    files = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert pack_shards.main(["--input", str(web), "--tokenizer", tok, "--output", str(out), "--quiet", "--set", f"workers={workers}", *sets]) == 0
        shards = out / "shards"
        files[workers] = {p.relative_to(shards).as_posix(): p.read_bytes() for p in sorted(shards.rglob("*")) if p.is_file() and p.name != "manifest.json"}
        files[workers]["filtered"] = b"".join(sorted(p.read_bytes() for p in (out / "filtered").glob("*.parquet")))
    assert files[1] == files[2] and len([n for n in files[1] if n.endswith(".bin")]) >= 3
