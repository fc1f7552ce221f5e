"""The read stage: a Ray Data generator UDF that turns one read task into streamed Arrow blocks."""

from __future__ import annotations

import logging
from typing import Iterator

import pyarrow as pa

from operators.io.fasta_reader import read_fasta
from operators.core.ingest_config import IngestConfig
from operators.io.jsonl_reader import read_jsonl
from operators.io.parquet_reader import read_parquet
from operators.io.text_reader import read_text

log = logging.getLogger(__name__)

READERS = {"jsonl": read_jsonl, "text": read_text, "parquet": read_parquet, "fasta": read_fasta}
TASK_COLUMNS = ("uri", "format", "compression", "start", "end")


class ReadTask:
    """Callable on a batch of read tasks (see :func:`operators.io.sources.plan_read_tasks`); yields blocks.

    Text formats yield RAW_DOCUMENTS rows, FASTA yields DNA_SEGMENTS_RAW rows; run one kind per dataset.
    """

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg

    def __call__(self, tasks: pa.Table) -> Iterator[pa.Table]:
        missing = [c for c in TASK_COLUMNS if c not in tasks.column_names]
        if missing:
            raise ValueError(f"ReadTask: input lacks columns {missing}; build it with plan_read_tasks()")
        for task in tasks.to_pylist():
            log.debug("reading %s [%s, %s)", task["uri"], task["start"], task["end"])
            yield from READERS[task["format"]](task, self.cfg)
