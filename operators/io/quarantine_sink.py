"""The quarantine sink: split rejected rows off a stage's output and write them as zstd Parquet.

Stages mark bad rows with the reject columns instead of dropping them; this sink, the last map stage of a
pipeline, writes those rows to ``quarantine_dir`` (file names derived from the rows, so a retried task
overwrites its own file) and returns the kept rows with the reject columns removed. Nothing is dropped silently.
"""

from __future__ import annotations

import os

import pyarrow as pa

from tokenmill.operators.core.atomic import write_named_parquet
from tokenmill.operators.core.rows import split_marked
from tokenmill.schemas import QUARANTINE, REJECT_COLUMNS


class QuarantineSink:
    """Callable on a batch: write rejected rows to ``quarantine_dir``, return the rest as ``schema`` rows."""

    def __init__(self, quarantine_dir: str, schema: pa.Schema) -> None:
        self.quarantine_dir = quarantine_dir
        self.schema = schema
        os.makedirs(quarantine_dir, exist_ok=True)

    def __call__(self, batch: pa.Table) -> pa.Table:
        bad, good = split_marked(batch, REJECT_COLUMNS, "_reject_reason", "QuarantineSink")
        if bad.num_rows:
            self._write(bad)
        return good.select(self.schema.names).cast(self.schema)

    def _write(self, bad: pa.Table) -> None:
        table = pa.table(
            {
                "source": bad["source"],
                "location": bad["location"],
                "stage": bad["_reject_stage"],
                "reason": bad["_reject_reason"],
                "detail": bad["_reject_detail"],
                "excerpt": bad["_reject_excerpt"],
            },
            schema=QUARANTINE,
        )
        write_named_parquet(self.quarantine_dir, "q", table)
