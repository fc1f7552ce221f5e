"""Schemas of the ingestion outputs: documents, DNA segments and quarantine rows."""

from __future__ import annotations

import pyarrow as pa

SCHEMA_KEY = b"tokenmill.schema"


def _versioned(name: str, fields: list[pa.Field]) -> pa.Schema:
    return pa.schema(fields, metadata={SCHEMA_KEY: name.encode()})


DOCUMENTS = _versioned(
    "documents/v1",
    [
        pa.field("id", pa.string(), nullable=False),  # stable: hash of (source, location)
        pa.field("source", pa.string(), nullable=False),  # file or URI it came from
        pa.field("location", pa.string(), nullable=False),  # byte offset / row group+row / "file"
        pa.field("text", pa.string(), nullable=False),
        pa.field("lang", pa.string()),  # ISO 639-3 when known
        pa.field("script", pa.string()),  # dominant Unicode script (e.g. Latin, Cyrillic, Han)
        pa.field("n_bytes", pa.int64(), nullable=False),  # UTF-8 bytes of text
        pa.field("meta", pa.string()),  # JSON object of remaining fields, or null
    ],
)

DNA_SEGMENTS = _versioned(
    "dna_segments/v1",
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("record", pa.string(), nullable=False),  # FASTA header's first word
        pa.field("offset", pa.int64(), nullable=False),  # 0-based position in the record
        pa.field("seq", pa.string(), nullable=False),  # upper case, alphabet A C G T (N by policy)
        pa.field("soft_masked_fraction", pa.float32(), nullable=False),
    ],
)

QUARANTINE = _versioned(
    "quarantine/v1",
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # short, stable code, e.g. "invalid_utf8"
        pa.field("detail", pa.string()),  # human explanation
        pa.field("excerpt", pa.string()),  # at most 200 bytes of the record (invalid bytes escaped)
    ],
)

# Columns that mark a rejected row inside a stage's output until the quarantine sink splits it off.
REJECT_COLUMNS = ("_reject_stage", "_reject_reason", "_reject_detail", "_reject_excerpt")


def schema_name(schema: pa.Schema) -> str | None:
    """The ``tokenmill.schema`` name/version of ``schema``, or None when it has none."""
    meta = schema.metadata or {}
    value = meta.get(SCHEMA_KEY)
    return value.decode() if value else None


def check_schema(schema: pa.Schema, expected: pa.Schema) -> None:
    """Raise ValueError unless ``schema`` carries ``expected``'s columns (and version, when it has one)."""
    missing = [f.name for f in expected if f.name not in schema.names]
    if missing:
        raise ValueError(f"data is not {schema_name(expected)}: missing columns {missing}")
    got = schema_name(schema)
    if got is not None and got != schema_name(expected):
        raise ValueError(f"data is {got}, this tokenmill reads {schema_name(expected)}")


# What text readers emit before normalization (then ``TextNormalizer`` makes DOCUMENTS rows of it).
RAW_DOCUMENTS = _versioned(
    "raw_documents/v1",
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("text", pa.string()),  # null when the record was rejected while reading
        pa.field("lang", pa.string()),
        pa.field("meta", pa.string()),
        *[pa.field(c, pa.string()) for c in REJECT_COLUMNS],
    ],
)

DNA_SEGMENTS_RAW = _versioned(
    "dna_segments_raw/v1",
    [*DNA_SEGMENTS, pa.field("location", pa.string()), *[pa.field(c, pa.string()) for c in REJECT_COLUMNS]],
)
