"""Worker-side shard writing: one input partition → read, clean, quarantine, encode, pack → shard parts.

Each Ray worker runs :class:`PartWriter` over whole partitions (see :func:`operators.io.plan_partitions`): the
tokens of a partition never leave the worker that made them. It writes its shards into the shard directory
with ``commit=False`` and returns only a small descriptor (file names, counts, checksums); the driver commits all
descriptors in partition order with :func:`operators.shards.writer.commit_shards`. Shard names are content
addresses of the partition (its inputs' fingerprints, the configs, the tokenizer and the code), so the same
inputs give the same names and bytes with any number of workers or nodes, a retried partition rewrites the
same bytes, and a changed input can never overwrite a file the current manifest names.

Packing happens within a partition; its last rows are flushed when it ends, so partitions should hold many
rows' worth of tokens (``partition_bytes`` of 32 MiB ≈ 8 M GPT-2 tokens ≈ 4,000 rows of 2,048: the flush wastes
a few rows, < 0.5 %).
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
import logging
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from operators.core.ingest_config import IngestConfig
from operators.encode import Encoder, EncoderConfig, limit_encode_threads
from operators.io.chain import ingest_stages
from operators.io.read_task import ReadTask
from operators.shards.config import ShardWriterConfig
from operators.shards.writer import ShardWriter

log = logging.getLogger(__name__)

DOCUMENTS_FORMAT = "documents"  # a task over already ingested documents/v1 Parquet: ids and text kept as they are


def part_name(index: int, tasks: list[dict], settings: str) -> str:
    """The shard-name token of partition ``index``: a hash of its tasks (with fingerprints) and the settings."""
    payload = json.dumps({"index": index, "tasks": tasks, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class PartWriter:
    """Callable on a batch of partitions (columns ``index``, ``name``, ``tasks`` JSON); returns their descriptors.

    Args:
        shards_dir: the shard directory every worker writes its parts into.
        tokenizer: tokenizer path (loaded once per worker).
        shard_cfg: packing and shard settings.
        ingest: how raw files are read and cleaned.
        quarantine_dir, receipts_dir: where rejected rows and count receipts go.
        documents_dir: also write the kept documents as Parquet there (None: do not).
        run_id: recorded in the shards.
        encode_batch_size: documents per tokenizer call.
        encode_threads: threads of the tokenizer in this worker (its share of the node's CPUs).
    """

    def __init__(self, *, shards_dir: str, tokenizer: str, shard_cfg: ShardWriterConfig, ingest: IngestConfig,
                 quarantine_dir: str, receipts_dir: str, documents_dir: str | None, run_id: str,
                 encode_batch_size: int, encode_threads: int = 1) -> None:
        limit_encode_threads(encode_threads)
        self.shards_dir = shards_dir
        self.shard_cfg = shard_cfg
        self.ingest = ingest
        self.encoder = Encoder(EncoderConfig(tokenizer=tokenizer, text_column="text"))
        self.reader = ReadTask(ingest, receipts_dir)
        # The dominant script is a documents/ column; shards never read it.
        self.stages = ingest_stages("text", dataclasses.replace(ingest, detect_script=ingest.detect_script and documents_dir is not None),
                                    quarantine_dir, receipts_dir)
        self.documents_dir = documents_dir
        self.run_id = run_id
        self.encode_batch_size = encode_batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [self.write(r["index"], r["name"], json.loads(r["tasks"])) for r in batch.to_pylist()]
        return pa.table({"index": [r["index"] for r in rows], "part": [json.dumps(r) for r in rows]})

    def write(self, index: int, name: str, tasks: list[dict]) -> dict:
        """Write the shards of one partition; return its descriptor (``commit_shards`` part + counts)."""
        engine = self.encoder.engine
        docs_writer = None
        per_source: dict[str, int] = {}
        with ShardWriter(self.shards_dir, self.shard_cfg, vocab_size=engine.vocab_size, tokenizer_hash=engine.sha256,
                         run_id=self.run_id, commit=False, name=name) as writer:
            for docs in self._documents(tasks):
                if docs.num_rows == 0:
                    continue
                if self.documents_dir is not None:
                    if docs_writer is None:
                        Path(self.documents_dir).mkdir(parents=True, exist_ok=True)
                        docs_writer = pq.ParquetWriter(Path(self.documents_dir) / f"part-{index:05d}-{name}.parquet",
                                                       docs.schema, compression="zstd")
                    docs_writer.write_table(docs)
                for start in range(0, docs.num_rows, self.encode_batch_size):
                    chunk = docs.slice(start, self.encode_batch_size)
                    writer.add_table(self.encoder(chunk.select(["id", "text"])), id_column="id")
                    for src in chunk["source"].to_pylist():  # counted as handed to the packer, per source
                        per_source[src] = per_source.get(src, 0) + 1
            part = writer.close()
        if docs_writer is not None:
            docs_writer.close()
        log.info("partition %d: %d documents packed into %d shards", index, sum(per_source.values()),
                 len(part["shards"]))
        return {"index": index, "documents_per_source": per_source, **part}

    def _documents(self, tasks: list[dict]):
        """Kept documents of the partition's tasks, in task order (raw files pass the ingest stages)."""
        for task in tasks:
            if task["format"] == DOCUMENTS_FORMAT:
                with fsspec.open(task["uri"], "rb") as fh:
                    yield pq.ParquetFile(fh).read_row_group(task.get("row_group") or 0, columns=["id", "source", "text"])
                continue
            for block in self.reader(pa.Table.from_pylist([task])):
                for stage in self.stages:
                    block = stage(block)
                yield block


__all__ = ["DOCUMENTS_FORMAT", "PartWriter", "part_name"]
