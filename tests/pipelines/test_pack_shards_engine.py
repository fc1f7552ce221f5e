"""pack_shards with the default engine (auto → fastokens for GPT-2) writes the same shard bytes as encode.engine=hf,
and the ledger and the manifest name the engine that ran."""

from __future__ import annotations

import json

import duckdb

from tokenmill.pipelines import pack_shards


def _shard_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_auto_and_hf_write_identical_shards_and_the_ledger_names_the_engine(tmp_path, shared_data, ray_local):
    files = [str(p) for p in sorted((shared_data / "text/udhr").glob("*.txt"))[:60]] + [str(p) for p in sorted((shared_data / "code/click").rglob("*.py"))[:20]]
    tok = str(shared_data / "tokenizers/gpt2")
    outs = {}
    for engine in ("auto", "hf"):
        out = tmp_path / engine
        args = [a for f in files for a in ("--input", f)] + ["--tokenizer", tok, "--output", str(out), "--quiet",
                                                            "--set", f"encode.engine={engine}", "--set", "shards.pack.context_length=256",
                                                            "--set", "partition_bytes=1048576", "--set", "encode_batch_size=16"]
        assert pack_shards.main(args) == 0
        outs[engine] = out
    shards = {e: _shard_bytes(o / "shards") for e, o in outs.items()}
    assert shards["auto"] and shards["auto"] == shards["hf"]
    recorded = {}
    for engine, out in outs.items():
        manifest = json.loads((out / "shards/manifest.json").read_text())
        with duckdb.connect(str(out / "ledger.duckdb"), read_only=True) as con:
            row = con.execute("SELECT engine, parity_docs, checked_docs, fallbacks, reason FROM encoders WHERE stage = 'pack_shards'").fetchone()
        assert manifest["source"]["encoder"]["engine"] == row[0]
        recorded[engine] = row
    engine, parity_docs, checked, fallbacks, _ = recorded["auto"]
    assert engine == "fastokens" and parity_docs >= 80 and fallbacks == 0
    assert checked >= 80  # the first batch of each partition (16 documents) and 2 of every later batch
    assert recorded["hf"][0] == "hf" and recorded["hf"][2] == 0 and recorded["hf"][4] == "asked for"
