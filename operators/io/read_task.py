"""The read stage: a Ray Data generator UDF that turns one read task into streamed Arrow blocks."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import Seen
from tokenmill.operators.core.stages import write_receipt
from tokenmill.operators.io.fasta_reader import read_fasta
from tokenmill.operators.io.jsonl_reader import read_jsonl
from tokenmill.operators.io.parquet_reader import read_parquet
from tokenmill.operators.io.text_reader import read_text
from tokenmill.operators.io.warc_reader import read_warc

log = logging.getLogger(__name__)

READERS = {"jsonl": read_jsonl, "text": read_text, "parquet": read_parquet, "fasta": read_fasta, "warc": read_warc, "wet": read_warc}
TASK_COLUMNS = ("uri", "format", "compression", "start", "end")
STAGE = "read"


class ReadTask:
    """Callable on a batch of read tasks (see :func:`operators.io.sources.plan_read_tasks`); yields blocks.

    Text formats yield RAW_DOCUMENTS rows, FASTA yields DNA_SEGMENTS_RAW rows; run one kind per dataset.
    After each task, a receipt ``{uri, start, end, row_group, seen, emitted}`` is appended to ``receipts`` (and
    written to ``receipts_dir`` when given): ``seen`` is what the reader counted in the input, ``emitted`` the
    rows it handed on, counted here from the blocks themselves.
    """

    def __init__(self, cfg: IngestConfig, receipts_dir: str | None = None) -> None:
        self.cfg = cfg
        self.receipts_dir = receipts_dir
        self.receipts: list[dict] = []

    def __call__(self, tasks: pa.Table) -> Iterator[pa.Table]:
        missing = [c for c in TASK_COLUMNS if c not in tasks.column_names]
        if missing:
            raise ValueError(f"ReadTask: input lacks columns {missing}; build it with plan_read_tasks()")
        for task in tasks.to_pylist():
            log.debug("reading %s [%s, %s)", task["uri"], task["start"], task["end"])
            seen, emitted = Seen(), 0
            for block in READERS[task["format"]](task, self.cfg, seen):
                emitted += block.num_rows
                yield block
            receipt = {
                "stage": STAGE,
                "uri": task["uri"],
                "start": task["start"],
                "end": task["end"],
                "row_group": task.get("row_group"),
                "format": task["format"],
                "seen": seen.n,
                "emitted": emitted,
            }
            self.receipts.append(receipt)
            if self.receipts_dir is not None:
                key = hashlib.blake2b(repr((task["uri"], task["start"], task["end"], task.get("row_group"))).encode(), digest_size=12).hexdigest()
                # FASTA records are cut into many segments: their count is reported, not reconciled with rows.
                seen_key = "fasta_records" if task["format"] == "fasta" else "seen"
                write_receipt(self.receipts_dir, f"read-{key}", {"stage": STAGE, seen_key: {task["uri"]: seen.n}, "out": {task["uri"]: emitted}})
