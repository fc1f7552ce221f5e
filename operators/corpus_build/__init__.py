"""Incremental corpus builds: content-addressed partition cache, published builds, lock, diff."""

from tokenmill.operators.core.outputs import BuildLock  # the lock of any output folder; builds take it
from tokenmill.operators.corpus_build.config import BuildConfig, SourceConfig, load_build_config
from tokenmill.operators.corpus_build.partition import PartitionBuilder, partition_key
from tokenmill.operators.corpus_build.publish import BuildStore

__all__ = ["BuildConfig", "BuildLock", "BuildStore", "PartitionBuilder", "SourceConfig", "load_build_config", "partition_key"]
