"""Check ``--input`` on the driver before Ray starts: a typo fails in milliseconds, not after a cluster start."""

from __future__ import annotations

from tokenmill.operators.io import InputFile, expand_parquet_folders, resolve_inputs


def check_inputs(patterns: list[str], format: str = "auto") -> list[InputFile]:
    """Resolve ``patterns`` as the pipeline will (a folder of ingested documents, local or remote, stands for its
    ``*.parquet``).

    Raises:
        ConfigError: no inputs, a glob that matches nothing, a missing path, a directory without Parquet files,
            or a file whose format cannot be told (run it inside ``job()``: exit 2 with the message).
    """
    return resolve_inputs(expand_parquet_folders(patterns), format)
