"""Check ``--input`` on the driver before Ray starts: a typo, or a file that cannot be of the job's kind, fails in
milliseconds, not after a cluster start and an ingest."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import fsspec
import zstandard

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.io import InputFile, expand_parquet_folders, resolve_inputs
from tokenmill.operators.io.decode import files_without_lang

FASTA_KINDS = "FASTA (.fa/.fna/.fasta, optionally .gz/.zst)"
HEAD_BYTES = 64 << 10
"""Decoded bytes of a file's start looked at to tell whether it can be FASTA."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentBatchesConfig:
    """The keys of a job that reads documents (``--input``: documents/v1 Parquet or raw files, ingested first) and
    maps them in Ray batches (romanize, dynamic_tokenize); a job subclasses it and may write ``batch_size`` again
    with its own default and docstring."""

    batch_size: int
    """Documents per batch (each job writes it again with its default)."""
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options when --input names raw files (e.g. --set ingest.lang_from=filename)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.workers < 0:
            raise ValueError("workers must be >= 0")


def check_inputs(patterns: list[str], format: str = "auto", *, job: str | None = None, lang_from: str = "none") -> list[InputFile]:
    """Resolve ``patterns`` as the pipeline will (a folder of ingested documents, local or remote, stands for its
    ``*.parquet``) and, for a job named by ``job`` that reads text (every caller of this function), refuse FASTA:
    DNA goes through ``dna_bpe`` (or ``ingest``), never into a text tokenizer's documents.

    ``lang_from=filename``: files whose names hold no language code are named in a warning (see
    :func:`operators.io.decode.files_without_lang`).

    Raises:
        ConfigError: no inputs, a glob that matches nothing, a missing path, a directory without Parquet files,
            a file whose format cannot be told, or a FASTA file (run it inside ``job()``: exit 2 with the message).
    """
    files = resolve_inputs(expand_parquet_folders(patterns), format)
    fasta = [f.uri for f in files if f.format == "fasta"]
    if fasta:
        who = f"{job} reads" if job else "this job reads"
        raise ConfigError(
            f"--input {fasta[0]}: {who} text (JSONL, Parquet, .txt), and this is FASTA"
            f"{f' (and {len(fasta) - 1} more FASTA files)' if len(fasta) > 1 else ''}; train a DNA "
            f"tokenizer with `tokenmill dna-bpe`, or leave the FASTA files out of --input"
        )
    if lang_from == "filename":  # Parquet documents carry their own lang
        files_without_lang([f.uri for f in files if f.format != "parquet"])
    return files


def check_fasta(files: list[InputFile], flag: str = "--input", job: str = "dna_bpe") -> None:
    """Refuse a file that cannot be FASTA, before Ray starts: its name says another format (a .txt, a .jsonl, a
    .parquet) or, for a file named (or ``format=``) FASTA, its first :data:`HEAD_BYTES` decoded bytes hold no ``>``
    header line (JSON, Parquet, plain text). A head that cannot be read or decoded is left to ingest, which
    quarantines it with the reason.

    Raises:
        ConfigError: one line naming the file, what it looks like, and what the job expects.
    """
    for f in files:
        if f.format != "fasta":
            raise ConfigError(f"{flag} {f.uri}: {job} expects {FASTA_KINDS}, and this is {_kind(f)}; pass the FASTA files (e.g. {flag} 'genomes/*.fa.gz')")
        head = _head(f)
        if head is None or not head.strip():
            continue  # unreadable or empty: ingest reports it (quarantine, or an empty corpus)
        if not any(line.startswith(b">") for line in head.splitlines()):
            raise ConfigError(
                f"{flag} {f.uri}: {job} expects {FASTA_KINDS}, and this file has no '>' header line in "
                f"its first {HEAD_BYTES >> 10} KiB (it starts {_excerpt(head)}); is it really FASTA?"
            )


def _kind(f: InputFile) -> str:
    return {"jsonl": "JSONL", "parquet": "Parquet", "text": "text"}.get(f.format, f.format) + (f" ({f.compression})" if f.compression else "")


def _head(f: InputFile) -> bytes | None:
    """The first :data:`HEAD_BYTES` decoded bytes of ``f`` (unverified), or None when they cannot be read."""
    try:
        with fsspec.open(f.uri, "rb") as fh:
            data = fh.read(HEAD_BYTES if f.compression is None else 1 << 20)
        if f.compression == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, HEAD_BYTES)
        if f.compression == "zstd":
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)[:HEAD_BYTES]
        return data
    except Exception:
        return None


def _excerpt(head: bytes) -> str:
    text = head.lstrip()[:24].decode("utf-8", "backslashreplace")
    return repr(text + ("..." if len(head.lstrip()) > 24 else ""))
