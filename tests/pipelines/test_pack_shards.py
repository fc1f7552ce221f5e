"""pipelines/pack_shards.py: raw files or ingested documents → encoded → packed shards that verify and read back."""

from __future__ import annotations

import json
import os

import duckdb
import numpy as np

from tokenmill.operators.encode import load_engine
from tokenmill.operators.shards import PackedIterableDataset, verify_shard_set
from tokenmill.pipelines import ingest, pack_shards


def test_pack_raw_files_and_documents(tmp_path, shared_data, ray_local):
    files = [str(shared_data / f"text/udhr/{lang}.txt") for lang in ("eng", "rus", "amh")]
    tok = str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")
    out = tmp_path / "raw"
    assert (
        pack_shards.main(
            [a for f in files for a in ("--input", f)] + ["--tokenizer", tok, "--output", str(out), "--quiet", "--set", "shards.pack.context_length=512"]
        )
        == 0
    )
    manifest = json.loads((out / "shards/manifest.json").read_text())
    assert verify_shard_set(out / "shards").ok
    assert manifest["tokenizer"]["vocab_size"] == 30522 and manifest["token_dtype"] == "uint16"
    assert manifest["config"]["pack"]["eos_id"] == 102  # eos_id=auto: BERT has no EOS, its [SEP] separates documents
    # the ledger's bytes are bytes (what read read, what pack_shards wrote), tokens have their own column
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    stages = {s: (b, t) for s, b, t in con.execute("SELECT stage, bytes, tokens FROM stages").fetchall()}
    con.close()
    on_disk = sum((out / "shards" / f["path"]).stat().st_size for s in manifest["shards"] for f in s["files"].values())
    assert stages["pack_shards"] == (on_disk, manifest["totals"]["tokens"])
    assert stages["read"] == (sum(os.path.getsize(f) for f in files), 0)
    # the same documents through ingest.py first give the same shards' content
    docs = tmp_path / "docs"
    assert ingest.main([a for f in files for a in ("--input", f)] + ["--output", str(docs), "--quiet"]) == 0
    out2 = tmp_path / "from_docs"
    assert (
        pack_shards.main(["--input", str(docs / "documents"), "--tokenizer", tok, "--output", str(out2), "--quiet", "--set", "shards.pack.context_length=512"])
        == 0
    )
    m2 = json.loads((out2 / "shards/manifest.json").read_text())
    assert m2["totals"]["tokens"] == manifest["totals"]["tokens"] and m2["totals"]["documents"] == manifest["totals"]["documents"]
    # every document's tokens come back from the reader, in one row, with positions restarting at 0
    engine = load_engine(tok)
    english = [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if l.strip()]
    expected = {(*engine.encode_batch([english[5]])[0], 102)}  # every document ends with BERT's [SEP] (eos_id=auto)
    found = set()
    for sample in PackedIterableDataset(out2 / "shards", shuffle=False):
        ids, pos = sample["input_ids"].numpy(), sample["position_ids"].numpy()
        starts = np.flatnonzero(pos == 0)
        for s, e in zip(starts, [*list(starts[1:]), len(ids)]):
            found.add(tuple(ids[s:e].tolist()))
    assert expected <= found


def test_a_file_split_over_several_partitions_counts_every_document(tmp_path, shared_data, ray_local):
    """One 2.6 MB file read in 1-MiB tasks that land in different partitions: its documents are summed over the
    partitions (a per-partition count that overwrote another would fail the run as lost records)."""
    lines = [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if l.strip()]
    src = tmp_path / "big.jsonl"
    n = 0
    with open(src, "w") as f:
        while f.tell() < 2_600_000:
            f.write(json.dumps({"text": " ".join(lines[(n + j) % len(lines)] for j in range(5))}) + "\n")
            n += 1
    out = tmp_path / "out"
    assert (
        pack_shards.main(
            [
                "--input",
                str(src),
                "--tokenizer",
                str(shared_data / "tokenizers/gpt2"),
                "--output",
                str(out),
                "--quiet",
                "--set",
                "ingest.split_bytes=1048576",
                "--set",
                "partition_bytes=1048576",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "shards/manifest.json").read_text())
    assert manifest["source"]["partitions"] >= 3 and manifest["totals"]["documents"] == n
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    assert con.execute("SELECT records_seen, records_out FROM source_counts").fetchall() == [(n, n)]
    con.close()
