"""The Python API runs the same job code as the CLI and returns the run's summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tokenmill
from tokenmill import cli


def write_jsonl(path: Path, shared_data: Path, n: int = 40) -> list[str]:
    """``n`` documents of real English text (UDHR lines, two per document) as JSONL; returns their texts."""
    lines = [ln.strip() for ln in (shared_data / "text" / "udhr" / "eng.txt").read_text().splitlines() if ln.strip()]
    texts = [f"{lines[2 * i % len(lines)]} {lines[(2 * i + 1) % len(lines)]}" for i in range(n)]
    path.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return texts


def gpt2_ids(gpt2: Path, text: str) -> list[int]:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE.from_file(str(gpt2 / "encoder.json"), str(gpt2 / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tok.encode(text).ids


def shard_files(shards: Path) -> dict[str, bytes]:
    return {str(p.relative_to(shards)): p.read_bytes() for p in sorted(shards.rglob("*")) if p.suffix in (".bin", ".idx")}


def test_pack_shards_returns_the_summary_and_matches_the_cli(tmp_path, shared_data, ray_local):
    src = tmp_path / "docs.jsonl"
    texts = write_jsonl(src, shared_data)
    gpt2 = shared_data / "tokenizers" / "gpt2"
    assert gpt2_ids(gpt2, "Hello world") == [15496, 995]

    summary = tokenmill.pack_shards(input=str(src), tokenizer=str(gpt2), output=str(tmp_path / "api"), shards={"pack": {"context_length": 128}}, workers=1)
    assert summary["status"] == 0 and summary["run_status"] == "succeeded"
    assert summary["shards"] == str(tmp_path / "api" / "shards") and Path(summary["manifest"]).is_file()
    totals = summary["totals"]
    assert totals["documents"] == len(texts)
    assert summary["stages"]["pack_shards"]["rows_out"] == totals["rows"]
    assert summary["stages"]["pack_shards"]["tokens"] == totals["tokens"]
    expected = sum(len(gpt2_ids(gpt2, t)) for t in texts)
    assert totals["tokens"] - expected in (0, len(texts), 2 * len(texts))  # the ids, plus a separator per document
    assert json.loads(Path(summary["manifest"]).read_text())["context_length"] == 128

    # the same job through the command line writes the same shard bytes
    argv = [
        "pack-shards",
        "--input",
        str(src),
        "--tokenizer",
        str(gpt2),
        "--output",
        str(tmp_path / "cli"),
        "--set",
        "shards.pack.context_length=128",
        "--set",
        "workers=1",
    ]
    assert cli.main(argv) == 0
    api_files, cli_files = shard_files(tmp_path / "api" / "shards"), shard_files(tmp_path / "cli" / "shards")
    assert api_files and api_files == cli_files

    verified = tokenmill.verify_shards(summary["shards"])
    assert verified["ok"] is True and verified["problem"] is None
    assert verified["totals"]["tokens"] == totals["tokens"]
    victim = tmp_path / "api" / "shards" / next(iter(api_files))
    victim.write_bytes(victim.read_bytes()[:-4])
    broken = tokenmill.verify_shards(summary["shards"])
    assert broken["ok"] is False and victim.name in broken["problem"]


def test_ingest_summary_counts_and_folders(tmp_path, shared_data, ray_local):
    src = tmp_path / "docs.jsonl"
    texts = write_jsonl(src, shared_data, n=12)
    with src.open("a") as f:
        f.write('{"id": "broken", "text": \n')  # one malformed record: quarantined, counted
    summary = tokenmill.ingest(input=str(src), output=str(tmp_path / "out"))
    assert summary["run_status"] == "succeeded"
    assert summary["documents"] == str(tmp_path / "out" / "documents") and summary["dna_segments"] is None
    read = summary["stages"]["read"]
    assert read["rows_in"] == len(texts) + 1 and read["rows_out"] == len(texts) and read["rows_quarantined"] == 1
    assert sum(r["count"] for r in summary["quarantine_reasons"]) >= 1


def test_a_config_error_raises_job_error(tmp_path, shared_data):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, shared_data, n=2)
    with pytest.raises(tokenmill.JobError, match=r"did you mean shards\.pack\.context_length") as err:
        tokenmill.pack_shards(input=str(src), tokenizer=str(shared_data / "tokenizers" / "gpt2"), output=str(tmp_path / "out"), context_lenght=128)
    assert err.value.status == 2
    with pytest.raises(ValueError, match="unknown job"):
        tokenmill.run("pack-shard")
