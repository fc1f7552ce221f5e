"""Readers and writers: input resolution, streaming readers per format, the quarantine sink."""

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.io.quarantine_sink import QuarantineSink
from tokenmill.operators.io.read_task import ReadTask
from tokenmill.operators.io.sources import (
    InputFile,
    detect_format,
    expand_parquet_folders,
    fingerprint,
    parquet_files,
    parquet_schema,
    partition_size,
    plan_partitions,
    plan_read_tasks,
    resolve_inputs,
    runs_of_at_least,
    text_bytes,
)

__all__ = [
    "IngestConfig",
    "InputFile",
    "QuarantineSink",
    "ReadTask",
    "detect_format",
    "expand_parquet_folders",
    "fingerprint",
    "parquet_files",
    "parquet_schema",
    "partition_size",
    "plan_partitions",
    "plan_read_tasks",
    "resolve_inputs",
    "runs_of_at_least",
    "text_bytes",
]
