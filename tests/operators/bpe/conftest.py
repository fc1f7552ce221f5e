"""Fixtures for the BPE engine tests: real genomes cut into segments (a stand-in for ingestion's segmenter)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def fasta_segments(path: Path, length: int) -> list[str]:
    """Upper-cased sequence of every record, split on N runs, cut into ``length``-bp pieces (tails kept)."""
    records, cur = [], []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            records.append("".join(cur))
            cur = []
        else:
            cur.append(line.strip())
    records.append("".join(cur))
    out = []
    for rec in records:
        for piece in re.split("N+", rec.upper()):
            out.extend(piece[i: i + length] for i in range(0, len(piece), length))
    return [s for s in out if s]


@pytest.fixture(scope="session")
def small_genomes(shared_data: Path) -> dict[str, list[str]]:
    """lambda phage and SARS-CoV-2 (78 kbp together) in 1000-bp segments, by file stem."""
    dna = shared_data / "dna"
    return {p: fasta_segments(dna / f, 1000) for p, f in
            (("lambda", "lambda_phage.fa"), ("sarscov2", "sarscov2_NC_045512.2.fasta"))}
