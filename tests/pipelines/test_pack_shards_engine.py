"""pack_shards with the default engine (auto → fastokens for GPT-2, and for Mistral's sentencepiece model through a
derived tokenizer.json) writes the same shard bytes as encode.engine=hf / sentencepiece, and the ledger and the
manifest name the engine that ran."""

from __future__ import annotations

import json

import duckdb

from tokenmill.pipelines import pack_shards


def _shard_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def _pack(files: list[str], tokenizer: str, out, engine: str) -> None:
    args = [a for f in files for a in ("--input", f)] + ["--tokenizer", tokenizer, "--output", str(out), "--quiet"]
    for setting in (f"encode.engine={engine}", "shards.pack.context_length=256", "partition_bytes=1048576", "encode.batch_size=16"):
        args += ["--set", setting]
    assert pack_shards.main(args) == 0


def _encoder_row(out):
    with duckdb.connect(str(out / "ledger.duckdb"), read_only=True) as con:
        return con.execute("SELECT engine, parity_docs, checked_docs, fallbacks, reason FROM encoders WHERE stage = 'pack_shards'").fetchone()


def test_auto_and_hf_write_identical_shards_and_the_ledger_names_the_engine(tmp_path, shared_data, ray_local):
    files = [str(p) for p in sorted((shared_data / "text/udhr").glob("*.txt"))[:60]] + [str(p) for p in sorted((shared_data / "code/click").rglob("*.py"))[:20]]
    tok = str(shared_data / "tokenizers/gpt2")
    outs = {}
    for engine in ("auto", "hf"):
        _pack(files, tok, tmp_path / engine, engine)
        outs[engine] = tmp_path / engine
    shards = {e: _shard_bytes(o / "shards") for e, o in outs.items()}
    assert shards["auto"] and shards["auto"] == shards["hf"]
    recorded = {}
    for engine, out in outs.items():
        manifest = json.loads((out / "shards/manifest.json").read_text())
        row = _encoder_row(out)
        assert manifest["source"]["encoder"]["engine"] == row[0]
        assert manifest["config"]["pack"]["eos_id"] == 50256  # the default eos_id=auto: GPT-2's <|endoftext|>
        recorded[engine] = row
    engine, parity_docs, checked, fallbacks, _ = recorded["auto"]
    assert engine == "fastokens" and parity_docs >= 80 and fallbacks == 0
    assert checked >= 80  # the first batch of each partition (16 documents) and 2 of every later batch
    assert recorded["hf"][0] == "hf" and recorded["hf"][2] == 0 and recorded["hf"][4] == "asked for"


def test_sentencepiece_model_auto_and_sentencepiece_write_identical_shards(tmp_path, shared_data, ray_local):
    """Mistral's .model: auto encodes with fastokens on the derived tokenizer.json, checked against sentencepiece, and
    writes the bytes encode.engine=sentencepiece writes."""
    files = [str(p) for p in sorted((shared_data / "text/udhr").glob("*.txt"))[60:100]] + [
        str(p) for p in sorted((shared_data / "code/flask").rglob("*.py"))[:10]
    ]
    tok = str(shared_data / "tokenizers/mistral/tokenizer.model.v1")
    for engine in ("auto", "sentencepiece"):
        _pack(files, tok, tmp_path / engine, engine)
    shards = {e: _shard_bytes(tmp_path / e / "shards") for e in ("auto", "sentencepiece")}
    assert shards["auto"] and shards["auto"] == shards["sentencepiece"]
    engine, parity_docs, checked, fallbacks, reason = _encoder_row(tmp_path / "auto")
    assert engine == "fastokens" and parity_docs >= 100 and checked >= 50 and fallbacks == 0
    assert "derived from the sentencepiece model reproduced sentencepiece" in reason
    manifest = json.loads((tmp_path / "auto/shards/manifest.json").read_text())
    assert manifest["source"]["encoder"]["engine"] == "fastokens" and manifest["source"]["encoder"]["reference"].startswith("sentencepiece")
    assert manifest["config"]["pack"]["eos_id"] == 2  # Mistral's </s>
    assert _encoder_row(tmp_path / "sentencepiece")[0] == "sentencepiece"


def test_a_partition_that_fell_back_is_recorded(tmp_path, shared_data):
    """Descriptors of a job where one partition was re-encoded by HF: the ledger row says fastokens+hf, one fallback and
    the mismatch (the partition-level path itself is tested in tests/operators/encode/test_engines.py)."""
    from tokenmill.operators.encode import load_engine
    from tokenmill.operators.ledger import Ledger
    from tokenmill.pipelines._shards import record_encoder

    engine = load_engine(shared_data / "tokenizers/gpt2", "auto")
    parts = [
        {"encoder": {"engine": "fastokens", "version": "0.3.5", "checked_docs": 66, "fallback": None}},
        {"encoder": {"engine": "hf", "version": "0.23.3", "checked_docs": 64, "fallback": "partition 1: fast engine differs"}},
    ]
    ledger = Ledger(tmp_path / "ledger.duckdb")
    ledger.start_run("pack_shards", {})
    record = record_encoder(ledger, "pack_shards", engine, parts)
    row = ledger.con.execute("SELECT engine, checked_docs, fallbacks, reason FROM encoders").fetchone()
    assert row == ("fastokens+hf", 130, 1, "partition 1: fast engine differs") and record["engine"] == "fastokens+hf"
