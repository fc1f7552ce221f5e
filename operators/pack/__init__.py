"""Packing tokenized documents into fixed-length rows with per-document positions (no cross-document attention)."""

from operators.pack.config import PackedRow, PackerConfig, PackStats
from operators.pack.packer import Packer, PreparedDocs, best_fit_decreasing, pack_documents
from operators.pack.reference import ReferencePacker
from operators.pack.rows import PackedBatch, concat_ranges, materialize_rows

__all__ = [
    "PackedBatch",
    "PackedRow",
    "Packer",
    "PackerConfig",
    "PackStats",
    "PreparedDocs",
    "ReferencePacker",
    "best_fit_decreasing",
    "concat_ranges",
    "materialize_rows",
    "pack_documents",
]
