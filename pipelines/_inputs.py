"""Check ``--input`` on the driver before Ray starts: a typo fails in milliseconds, not after a cluster start."""

from __future__ import annotations

from pathlib import Path

from operators.io import InputFile, resolve_inputs


def check_inputs(patterns: list[str], format: str = "auto") -> list[InputFile]:
    """Resolve ``patterns`` as the pipeline will (a folder of ingested documents stands for its ``*.parquet``).

    Raises:
        ConfigError: no inputs, a glob that matches nothing, a missing path, a directory without Parquet files,
            or a file whose format cannot be told (run it inside ``run_guard``: exit 2 with the message).
    """
    return resolve_inputs(expand_document_folders(patterns), format)


def expand_document_folders(patterns: list[str]) -> list[str]:
    """A local folder holding ``*.parquet`` (OUT/documents of ingest.py) → ``folder/*.parquet``; others unchanged."""
    return [str(Path(p) / "*.parquet") if Path(p).is_dir() and any(Path(p).glob("*.parquet")) else p
            for p in patterns]
