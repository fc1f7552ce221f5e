"""Inputs that cannot be of the job's kind fail before Ray starts, in one line: dna_bpe refuses text, JSONL and
Parquet (by name) and a file named FASTA without a '>' header at its start; the text jobs refuse FASTA (before: Ray
started, ingest ran, and the run died ~30-40 s later with a traceback or "no FASTA input")."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io import resolve_inputs
from tokenmill.pipelines._inputs import check_fasta, check_inputs

ROOT = Path(__file__).resolve().parents[2]

# main() in a fresh interpreter: exit code and whether Ray was started (imports happen before anything is judged).
_RUNNER = """
import importlib, json, sys
import ray
module = importlib.import_module("tokenmill.pipelines." + sys.argv[1])
try:
    code = module.main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "ray": ray.is_initialized()}))
"""

EXPECTS = "dna_bpe expects FASTA (.fa/.fna/.fasta, optionally .gz/.zst)"


def run_main(name: str, args: list[str]) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, name, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def one_line(result: dict, stderr: str) -> str:
    assert result["code"] == 2 and result["ray"] is False, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """A text file, a JSONL file, JSON named .fa, FASTA (plain, gzip, zstd) and text named .fa.gz."""
    (tmp_path / "notes.txt").write_text("Everyone has the right to life.\n")
    (tmp_path / "docs.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "json.fa").write_text('{"text": "ACGT"}\n' * 3)
    fasta = b">chr1 test\nACGTACGTAC\nGTACGT\n>chr2\nNNNNACGT\n"
    (tmp_path / "g.fa").write_bytes(b"\n;comment\n" + fasta)
    (tmp_path / "g.fna.gz").write_bytes(gzip.compress(fasta))
    (tmp_path / "g.fasta.zst").write_bytes(zstandard.ZstdCompressor().compress(fasta))
    (tmp_path / "text.fa.gz").write_bytes(gzip.compress(b"just some prose\n" * 10))
    (tmp_path / "empty.fa").write_bytes(b"")
    (tmp_path / "broken.fa.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return tmp_path


def test_check_fasta_by_name_and_first_bytes(files):
    for name in ("g.fa", "g.fna.gz", "g.fasta.zst", "empty.fa", "broken.fa.gz"):  # empty / undecodable: ingest's job
        check_fasta(resolve_inputs([str(files / name)]))
    for name, kind in (("notes.txt", "this is text"), ("docs.jsonl", "this is JSONL")):
        with pytest.raises(
            ConfigError,
            match=r"--input .*: dna_bpe expects FASTA \(\.fa/\.fna/\.fasta, optionally "
            r"\.gz/\.zst\), and " + kind,
        ):
            check_fasta(resolve_inputs([str(files / name)]))
    for name, start in (("json.fa", '\'{"text": "ACGT"}'), ("text.fa.gz", "'just some prose")):
        with pytest.raises(ConfigError, match="no '>' header line in its first 64 KiB") as exc:
            check_fasta(resolve_inputs([str(files / name)]), "--eval")
        assert str(exc.value).startswith(f"--eval {files / name}:") and f"(it starts {start}" in str(exc.value)
    # format=fasta: the name no longer decides, the first bytes still do
    (files / "reads.txt").write_bytes(b">r1\nACGT\n")
    check_fasta(resolve_inputs([str(files / "reads.txt")], "fasta"))
    with pytest.raises(ConfigError, match="no '>' header"):
        check_fasta(resolve_inputs([str(files / "notes.txt")], "fasta"))


def test_text_jobs_refuse_fasta(files):
    with pytest.raises(
        ConfigError,
        match=r"g\.fa: pack_shards reads text \(JSONL, Parquet, \.txt\), and this is FASTA "
        r"\(and 1 more FASTA files\); train a DNA tokenizer with `tokenmill dna-bpe`",
    ):
        check_inputs([str(files / "g.fa"), str(files / "g.fna.gz"), str(files / "notes.txt")], job="pack_shards")
    assert [f.format for f in check_inputs([str(files / "notes.txt"), str(files / "docs.jsonl")])] == ["jsonl", "text"]


@pytest.mark.parametrize("name", ["notes.txt", "docs.jsonl", "json.fa"])
def test_dna_bpe_refuses_what_cannot_be_fasta_before_ray(name, files, tmp_path):
    line = one_line(*run_main("dna_bpe", ["--input", str(files / name), "--output", str(tmp_path / "out"), "--quiet"]))
    assert f"--input {files / name}: {EXPECTS}" in line


def test_dna_bpe_checks_eval_too(files, tmp_path):
    line = one_line(*run_main("dna_bpe", ["--input", str(files / "g.fa"), "--eval", str(files / "notes.txt"), "--output", str(tmp_path / "out"), "--quiet"]))
    assert f"--eval {files / 'notes.txt'}: {EXPECTS}, and this file has no '>' header line" in line  # format=fasta: by first bytes


@pytest.mark.parametrize("job", ["pack_shards", "multilingual_tokenizer"])
def test_text_jobs_refuse_fasta_before_ray(job, files, tmp_path, shared_data):
    extra = ["--tokenizer", str(shared_data / "tokenizers/gpt2")] if job == "pack_shards" else []
    line = one_line(*run_main(job, ["--input", str(files / "g.fa"), "--output", str(tmp_path / "out"), "--quiet", *extra]))
    assert f"--input {files / 'g.fa'}: " in line and "and this is FASTA" in line and "tokenmill dna-bpe" in line
