"""Fixtures for the BPE engine tests: real genomes cut into segments (a stand-in for ingestion's segmenter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.io.fasta_reader import fasta_sequences


def fasta_segments(path: Path, length: int) -> list[str]:
    """Upper-cased sequence of every record, split on N runs, cut into ``length``-bp pieces (tails kept)."""
    return fasta_sequences(str(path), IngestConfig(segment_length=length, min_length=1))


@pytest.fixture(scope="session")
def small_genomes(shared_data: Path) -> dict[str, list[str]]:
    """lambda phage and SARS-CoV-2 (78 kbp together) in 1000-bp segments, by file stem."""
    dna = shared_data / "dna"
    return {p: fasta_segments(dna / f, 1000) for p, f in (("lambda", "lambda_phage.fa"), ("sarscov2", "sarscov2_NC_045512.2.fasta"))}
