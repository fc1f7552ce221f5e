"""Incremental corpus builds: content-addressed partition cache, published builds, lock, diff."""

from operators.build.config import BuildConfig, SourceConfig, load_build_config
from operators.build.partition import PartitionBuilder, partition_key
from operators.build.publish import BuildLock, BuildStore

__all__ = ["BuildConfig", "BuildLock", "BuildStore", "PartitionBuilder", "SourceConfig", "load_build_config",
           "partition_key"]
