"""Packing tokenized documents into fixed-length rows with per-document positions (no cross-document attention)."""

from tokenmill.operators.pack.config import PackedRow, PackerConfig, PackStats
from tokenmill.operators.pack.packer import Packer, PreparedDocs, best_fit_decreasing, pack_documents
from tokenmill.operators.pack.reference import ReferencePacker
from tokenmill.operators.pack.rows import PackedBatch, concat_ranges, materialize_rows

__all__ = [
    "PackStats",
    "PackedBatch",
    "PackedRow",
    "Packer",
    "PackerConfig",
    "PreparedDocs",
    "ReferencePacker",
    "best_fit_decreasing",
    "concat_ranges",
    "materialize_rows",
    "pack_documents",
]
