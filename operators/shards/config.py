"""Shard-writer config and the on-disk names and versions every shard module agrees on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tokenmill.operators.pack.config import PackerConfig

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "tokenmill shards v1"
ROWS_FORMAT = "tokenmill packed rows v1"
PLAN_FORMAT = "tokenmill pack plan v1"
FORMATS = ("megatron", "parquet")
# Where each file kind of shard NAME lives in the set's folder. Packed rows and pack plans have different schemas, so
# each has its own subfolder: `rows/*.parquet` (DuckDB, pyarrow.dataset, HF datasets) reads one schema only.
FILE_LAYOUT = {"bin": "{name}.bin", "idx": "{name}.idx", "plan": "plan/{name}.plan", "rows": "rows/train-{name}.parquet"}
SUBDIRS = ("plan", "rows")
KINDS_OF_FORMAT = {"megatron": ("bin", "idx", "plan"), "parquet": ("rows",)}


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65,536), else int32 (as Megatron's preprocessing does)."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardWriterConfig:
    """How packed shards are written."""

    pack: PackerConfig = field(default_factory=PackerConfig)
    """Packing: context length, buffer, long-document policy, BOS/EOS/pad ids."""
    formats: tuple[str, ...] = FORMATS
    """Which shard formats to write: 'megatron' (.bin/.idx + pack plan) and/or 'parquet' (packed rows)."""
    shard_tokens: int = 1 << 25
    """Stored tokens per shard before it is closed (a shard ends at a batch boundary, so it may hold a bit more)."""
    row_group_rows: int = 256
    """Packed rows per Parquet row group (the unit of random access when reading Parquet)."""
    zstd_level: int = 3
    """zstd compression level of the Parquet files."""

    def __post_init__(self) -> None:
        if not isinstance(self.pack, PackerConfig):
            raise ValueError(f"pack must be a PackerConfig, got {type(self.pack).__name__}")
        if not self.formats or any(f not in FORMATS for f in self.formats) or len(set(self.formats)) != len(self.formats):
            raise ValueError(f"formats must be a non-empty subset of {FORMATS} without repeats, got {self.formats!r}")
        if not isinstance(self.shard_tokens, int) or self.shard_tokens < 1:
            raise ValueError(f"shard_tokens must be an integer >= 1, got {self.shard_tokens!r}")
        if not isinstance(self.row_group_rows, int) or self.row_group_rows < 1:
            raise ValueError(f"row_group_rows must be an integer >= 1, got {self.row_group_rows!r}")
        if not isinstance(self.zstd_level, int) or not 1 <= self.zstd_level <= 22:
            raise ValueError(f"zstd_level must be an integer in 1..22, got {self.zstd_level!r}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The file kinds (bin, idx, plan, rows) every shard has under this config."""
        return tuple(k for f in self.formats for k in KINDS_OF_FORMAT[f])
