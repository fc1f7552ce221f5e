"""The filtered sink: split documents a quality filter dropped off the chain and write them as zstd Parquet.

Filters mark the documents they drop (:mod:`operators.quality.marks`); this sink, after the last filter and before
the quarantine sink, writes those rows to ``filtered_dir`` (file names derived from the rows, so a retried task
overwrites its own file) and hands on the others without the filter columns. Filtered is not quarantined: a
quarantined record is broken input, a filtered one is good input a rule rejected; the run reconciles
``seen = written + quarantined + filtered`` per source (:mod:`operators.ledger.reconcile`).
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.core.atomic import write_named_parquet
from tokenmill.operators.core.rows import split_marked
from tokenmill.operators.quality.marks import FILTER_COLUMNS
from tokenmill.schemas.core import SCHEMA_KEY

STAGE = "filtered"
EXCERPT_CHARS = 200

FILTERED = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the document's id (as documents/v1 would have it)
        pa.field("source", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # <filter>:<rule>, e.g. gopher_repetition:top_2_gram
        pa.field("value", pa.float64()),  # what the rule measured (null for yes/no rules without a measure)
        pa.field("threshold", pa.float64()),  # the limit it crossed
        pa.field("excerpt", pa.string()),  # the first 200 characters of the text
    ],
    metadata={SCHEMA_KEY: b"filtered/v1"},
)
"""Rows of OUT/filtered/*.parquet."""


class FilteredSink:
    """Callable on a batch: write filtered rows to ``filtered_dir``, return the others without the filter columns."""

    STAGE = STAGE
    NEEDS = ("id", "source", "location", "text", *FILTER_COLUMNS)

    def __init__(self, filtered_dir: str) -> None:
        self.filtered_dir = filtered_dir
        os.makedirs(filtered_dir, exist_ok=True)

    def __call__(self, batch: pa.Table) -> pa.Table:
        dropped, kept = split_marked(batch, FILTER_COLUMNS, "_filter_reason", "FilteredSink", ": put a quality filter before it")
        if dropped.num_rows:
            self._write(dropped)
        return kept.drop_columns(list(FILTER_COLUMNS))

    def _write(self, rows: pa.Table) -> None:
        excerpts = pc.utf8_slice_codeunits(rows["text"], 0, EXCERPT_CHARS)
        table = pa.table(
            {
                "id": rows["id"],
                "source": rows["source"],
                "location": rows["location"],
                "reason": rows["_filter_reason"],
                "value": rows["_filter_value"],
                "threshold": rows["_filter_threshold"],
                "excerpt": excerpts,
            },
            schema=FILTERED,
        )
        write_named_parquet(self.filtered_dir, "f", table)
