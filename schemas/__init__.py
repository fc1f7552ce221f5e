"""Versioned Arrow schemas that connect tokenmill stages.

Every schema carries ``tokenmill.schema`` metadata (``<name>/v<version>``); readers call :func:`check_schema`.
"""

from tokenmill.schemas.core import (
    DNA_SEGMENTS,
    DNA_SEGMENTS_RAW,
    DOCUMENTS,
    QUARANTINE,
    RAW_DOCUMENTS,
    REJECT_COLUMNS,
    check_schema,
    schema_name,
)
from tokenmill.schemas.ledger import LEDGER_TABLES

__all__ = [
    "DNA_SEGMENTS",
    "DNA_SEGMENTS_RAW",
    "DOCUMENTS",
    "LEDGER_TABLES",
    "QUARANTINE",
    "RAW_DOCUMENTS",
    "REJECT_COLUMNS",
    "check_schema",
    "schema_name",
]
