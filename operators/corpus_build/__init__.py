"""Incremental corpus builds: content-addressed partition cache, published builds, lock, diff."""

from tokenmill.operators.build.config import BuildConfig, SourceConfig, load_build_config
from tokenmill.operators.build.partition import PartitionBuilder, partition_key
from tokenmill.operators.build.publish import BuildLock, BuildStore

__all__ = ["BuildConfig", "BuildLock", "BuildStore", "PartitionBuilder", "SourceConfig", "load_build_config", "partition_key"]
