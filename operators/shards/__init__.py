"""Packed training shards: Megatron .bin/.idx + pack plan and Parquet writers, manifest + atomic commit, verify,
and the torch reader."""

from tokenmill.operators.shards.config import ShardWriterConfig, token_dtype
from tokenmill.operators.shards.manifest import load_manifest, set_bytes
from tokenmill.operators.shards.megatron import MegatronIndex, MegatronWriter, read_index
from tokenmill.operators.shards.verify import VerifyReport, verify_shard_set
from tokenmill.operators.shards.writer import ShardWriter, commit_shards

_READER = ("PackedIterableDataset", "PackedMapDataset", "ResumableLoader", "ShardSet", "collate_packed", "rank_order")


def __getattr__(name: str):
    # The torch reader loads on first use: writers, verify and Ray workers that only write never import torch.
    if name in _READER:
        from tokenmill.operators.shards import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'operators.shards' has no attribute {name!r}")


__all__ = [
    "MegatronIndex",
    "MegatronWriter",
    "PackedIterableDataset",
    "PackedMapDataset",
    "ResumableLoader",
    "ShardSet",
    "ShardWriter",
    "ShardWriterConfig",
    "VerifyReport",
    "collate_packed",
    "commit_shards",
    "load_manifest",
    "rank_order",
    "read_index",
    "set_bytes",
    "token_dtype",
    "verify_shard_set",
]
