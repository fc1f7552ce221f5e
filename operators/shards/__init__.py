"""Packed training shards: Megatron .bin/.idx + pack plan and Parquet writers, manifest + atomic commit, verify,
and the torch reader."""

from operators.shards.config import ShardWriterConfig, token_dtype
from operators.shards.manifest import load_manifest
from operators.shards.megatron import MegatronIndex, MegatronWriter, read_index
from operators.shards.reader import (
    PackedIterableDataset,
    PackedMapDataset,
    ShardSet,
    collate_packed,
    rank_order,
)
from operators.shards.verify import VerifyReport, verify_shard_set
from operators.shards.writer import ShardWriter, commit_shards

__all__ = [
    "MegatronIndex",
    "MegatronWriter",
    "PackedIterableDataset",
    "PackedMapDataset",
    "ShardSet",
    "ShardWriter",
    "ShardWriterConfig",
    "VerifyReport",
    "collate_packed",
    "commit_shards",
    "load_manifest",
    "rank_order",
    "read_index",
    "token_dtype",
    "verify_shard_set",
]
