"""Worker-side shard writing: one input partition → read, clean, quarantine, encode, pack → shard parts.

Each Ray worker runs :class:`PartWriter` over whole partitions (see :func:`operators.io.plan_partitions`): the
tokens of a partition never leave the worker that made them. It writes its shards into the shard directory
with ``commit=False`` and returns only a small descriptor (file names, counts, checksums); the driver commits all
descriptors in partition order with :func:`operators.shards.writer.commit_shards`. Shard names are content
addresses of the partition (its inputs' fingerprints, the configs, the tokenizer and the code), so the same
inputs give the same names and bytes with any number of workers or nodes, a retried partition rewrites the
same bytes, and a changed input can never overwrite a file the current manifest names.

With an object-store output (``upload_to``) no node needs a disk the others can see: each worker writes into a
private temporary folder of its own and uploads what a partition wrote as soon as it is done: shard files under
their final names (a shard set is only what its manifest lists, and the driver writes the manifest last), the rest
(quarantine, count receipts, documents) under the run's remote staging prefix, which the driver reads back.

Packing happens within a partition; its last rows are flushed when it ends, so partitions should hold many
rows' worth of tokens (``partition_bytes`` of 32 MiB ≈ 8 M GPT-2 tokens ≈ 4,000 rows of 2,048: the flush wastes
a few rows, < 0.5 %).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.stages import receipt_bundle
from tokenmill.operators.encode import EncodeConfig, Encoder, EncoderConfig, EngineMismatch, limit_encode_threads
from tokenmill.operators.io.chain import ingest_stages, run_chain
from tokenmill.operators.io.read_task import ReadTask
from tokenmill.operators.io.remote import join, remote_fs
from tokenmill.operators.shards.config import ShardWriterConfig
from tokenmill.operators.shards.writer import ShardWriter

log = logging.getLogger(__name__)

DOCUMENTS_FORMAT = "documents"  # a task over already ingested documents/v1 Parquet: ids and text kept as they are
# A task over DNA segment Parquet (dna_segments/v1): the segments of the listed (source, record) pairs, read from
# every segment file and ordered by SEGMENT_KEY, so a partition is defined by the segments, not by file layout.
SEGMENTS_FORMAT = "segments"
SEGMENT_KEY = ("source", "record", "offset", "id")
"""Document key of a segment: tokens and shards are written in this order, never in arrival order (the id, a hash
of the segment's location, breaks ties between FASTA records of the same name)."""
_ORDER = ", ".join(f'"{k}"' for k in SEGMENT_KEY)
TOKEN_COLUMNS = ("id", "source", "record", "offset", "input_ids", "n_tokens", "n_bp")
"""Columns of the encoded-segment files (OUT/tokens, one per partition, in key order): what the DNA report reads."""


def part_name(index: int, tasks: list[dict], settings: str) -> str:
    """The shard-name token of partition ``index``: a hash of its tasks (with fingerprints) and the settings."""
    payload = json.dumps({"index": index, "tasks": tasks, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PartWriterConfig:
    """What every :class:`PartWriter` worker of a run is built with (the driver makes one; each worker adds its
    share of the CPUs).

    Attributes:
        shards_dir: the shard directory every worker writes its parts into.
        tokenizer: tokenizer path (loaded once per worker).
        shard_cfg: packing and shard settings.
        ingest: how raw files are read and cleaned.
        quarantine_dir, receipts_dir: where rejected rows and count receipts go (None: only ingested documents
            or segments, no raw files, are read).
        filtered_dir: where documents the quality filters drop go (None: no filter that drops documents is on).
        upload_to: the remote output (``s3://...``) whose local staging folder is ``local_root``: every folder above
            that lies under ``local_root`` is written in a private temporary folder of this worker instead, and each
            partition's files are uploaded to ``upload_to`` at the same relative names, then removed here.
        local_root: see ``upload_to``.
        documents_dir: also write the kept documents as Parquet there (None: do not).
        tokens_dir: also write the encoded documents (:data:`TOKEN_COLUMNS`) as Parquet there (None: do not).
        write_shards: pack and write shard parts (False: only the documents/tokens files).
        run_id: recorded in the shards.
        encode_batch_size: documents per tokenizer call.
        encode: engine choice and parity checks (a mismatch re-encodes the partition with the reference engine).
    """

    shards_dir: str
    tokenizer: str
    shard_cfg: ShardWriterConfig
    ingest: IngestConfig
    quarantine_dir: str | None
    receipts_dir: str | None
    documents_dir: str | None
    run_id: str
    encode_batch_size: int
    tokens_dir: str | None = None
    write_shards: bool = True
    encode: EncodeConfig = dataclasses.field(default_factory=EncodeConfig)
    filtered_dir: str | None = None
    upload_to: str | None = None
    local_root: str | None = None

    def __post_init__(self) -> None:
        if self.upload_to is not None and self.local_root is None:
            raise ValueError("PartWriter: upload_to needs local_root (the staging folder the paths lie under)")


class PartWriter:
    """Callable on a batch of partitions (columns ``index``, ``name``, ``tasks`` JSON); returns their descriptors.

    Args:
        cfg: the run's settings (:class:`PartWriterConfig`).
        encode_threads: threads of the tokenizer in this worker (its share of the node's CPUs).
    """

    def __init__(self, cfg: PartWriterConfig, encode_threads: int = 1) -> None:
        limit_encode_threads(encode_threads)
        shards_dir, quarantine_dir, receipts_dir, documents_dir = cfg.shards_dir, cfg.quarantine_dir, cfg.receipts_dir, cfg.documents_dir
        tokens_dir, filtered_dir, local_root, ingest = cfg.tokens_dir, cfg.filtered_dir, cfg.local_root, cfg.ingest
        self.upload_to = cfg.upload_to
        self._private: Path | None = None
        if self.upload_to is not None:
            assert local_root is not None  # PartWriterConfig checks it
            private = self._private = Path(tempfile.mkdtemp(prefix="tokenmill-part-"))

            def here(d: str | None) -> str | None:  # the same folder inside this worker's private one
                return None if d is None else str(private / Path(d).relative_to(local_root))

            shards_dir = str(private / Path(shards_dir).relative_to(local_root))
            quarantine_dir, receipts_dir, documents_dir = here(quarantine_dir), here(receipts_dir), here(documents_dir)
            tokens_dir, filtered_dir = here(tokens_dir), here(filtered_dir)
        self.shards_dir = shards_dir
        self.shard_cfg = cfg.shard_cfg
        self.ingest = ingest
        self.encoder = Encoder(EncoderConfig(tokenizer=cfg.tokenizer, text_column="text", encode=cfg.encode))
        self.reader = ReadTask(ingest, receipts_dir)
        self.receipts_dir = receipts_dir
        # The dominant script is a documents/ column; shards never read it. No quarantine: raw files are refused.
        self.stages = (
            ingest_stages(
                "text",
                dataclasses.replace(ingest, detect_script=ingest.detect_script and documents_dir is not None),
                quarantine_dir,
                receipts_dir,
                filtered_dir=filtered_dir,
            )
            if quarantine_dir is not None
            else None
        )
        self.documents_dir = documents_dir
        self.tokens_dir = tokens_dir
        self.write_shards = cfg.write_shards
        self.run_id = cfg.run_id
        self.encode_batch_size = cfg.encode_batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [self.write(r["index"], r["name"], json.loads(r["tasks"])) for r in batch.to_pylist()]
        return pa.table({"index": [r["index"] for r in rows], "part": [json.dumps(r) for r in rows]})

    def write(self, index: int, name: str, tasks: list[dict]) -> dict:
        """Write the shards (and documents/tokens files) of one partition; return its descriptor (the
        ``commit_shards`` part + counts + ``encoder``: the engine that wrote it, documents checked, fallback).

        When the fast engine differs from the reference on a checked batch, the partition is written again from
        the start by the reference engine (its files are replaced), and the descriptor says so.
        """
        checked = self.encoder.checked_docs
        with receipt_bundle(self.receipts_dir, f"part-{index:05d}"):  # the partition's count receipts: one file
            try:
                part = self._write(index, name, tasks)
                fallback = None
            except EngineMismatch as exc:
                fallback = f"partition {index}: {exc}"
                self.encoder.engine.use_reference(fallback)
                part = self._write(index, name, tasks)
        if self._private is not None:
            part["uploaded"] = {"files": self._upload(), "node": _node_id()}
        engine = self.encoder.engine.engine
        part["encoder"] = {"engine": engine.name, "version": engine.version, "checked_docs": self.encoder.checked_docs - checked, "fallback": fallback}
        return part

    def _write(self, index: int, name: str, tasks: list[dict]) -> dict:
        engine = self.encoder.engine
        files: dict[str, pq.ParquetWriter] = {}
        per_source: dict[str, int] = {}
        with contextlib.ExitStack() as stack:  # a failure aborts the shard writer (its files removed)
            writer = (
                stack.enter_context(
                    ShardWriter.for_part(
                        self.shards_dir, self.shard_cfg, vocab_size=engine.vocab_size, tokenizer_hash=engine.sha256, run_id=self.run_id, name=name, part=index
                    )
                )
                if self.write_shards
                else None
            )
            stack.callback(lambda: [f.close() for f in files.values()])
            first = True
            ahead = all(t["format"] == SEGMENTS_FORMAT for t in tasks)  # DNA segments: encode one batch ahead
            for docs in self._documents(tasks):
                if docs.num_rows == 0:
                    continue
                self._write_file(files, "documents", self.documents_dir, index, name, docs)

                def write_tokens(chunk: pa.Table, encoded: pa.Table) -> None:
                    if self.tokens_dir is not None:
                        tokens = chunk.select([c for c in TOKEN_COLUMNS[:4] if c in chunk.column_names])
                        tokens = (
                            tokens.append_column("input_ids", encoded["input_ids"])
                            .append_column("n_tokens", encoded["n_tokens"])
                            .append_column("n_bp", pc.utf8_length(chunk["text"]).cast("int32"))
                        )
                        self._write_file(files, "tokens", self.tokens_dir, index, name, tokens)

                # closing(): a failure below joins the encoding thread before the files are closed
                with contextlib.closing(self._encode_chunks(docs, write_tokens, first=first, ahead=ahead)) as encoded_chunks:
                    for chunk, encoded in encoded_chunks:
                        first = False
                        if writer is not None:
                            writer.add_table(encoded, id_column="id")
                        for src in chunk["source"].to_pylist():  # counted as handed to the packer, per source
                            per_source[src] = per_source.get(src, 0) + 1
            part = writer.close() if writer is not None else {"shards": [], "pack_stats": {"docs_in": sum(per_source.values())}}
        log.info("partition %d: %d documents, %d shards", index, sum(per_source.values()), len(part["shards"]))
        return {"index": index, "documents_per_source": per_source, **part}

    def _encode_chunks(
        self, docs: pa.Table, write_tokens: Callable[[pa.Table, pa.Table], None], *, first: bool, ahead: bool
    ) -> Generator[tuple[pa.Table, pa.Table], None, None]:
        """``(chunk, encoded)`` for every ``encode_batch_size`` slice of ``docs``, in order, each passed to
        ``write_tokens`` first (``first``: the first slice opens the partition and is checked harder).

        ``ahead``: the next slice is encoded (and its tokens written) in a thread while the caller packs this one; the
        engines and pyarrow's writers release the GIL, so a worker with a free core uses it. Each file is still
        written by one thread, in slice order: the same bytes. A slice is submitted only after the previous one came
        back, so an :class:`EngineMismatch` (raised before anything of its slice is written) leaves nothing in flight.
        """

        def encode(chunk: pa.Table, first: bool) -> pa.Table:
            encoded = self.encoder(chunk.select(["id", "text"]), first=first)
            write_tokens(chunk, encoded)
            return encoded

        chunks = [docs.slice(s, self.encode_batch_size) for s in range(0, docs.num_rows, self.encode_batch_size)]
        if not ahead:
            for i, chunk in enumerate(chunks):
                yield chunk, encode(chunk, first and i == 0)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="tokenmill-encode") as pool:
            pending = pool.submit(encode, chunks[0], first)
            for i, chunk in enumerate(chunks):
                encoded = pending.result()
                if i + 1 < len(chunks):
                    pending = pool.submit(encode, chunks[i + 1], False)
                yield chunk, encoded

    def _upload(self) -> int:
        """Upload every file in the private folder to ``upload_to`` (same relative name), then remove it; returns
        how many. Runs after a whole partition is written, so no file is still being written."""
        assert self._private is not None and self.upload_to is not None
        fs, root = remote_fs(self.upload_to)
        files = sorted(p for p in self._private.rglob("*") if p.is_file())
        for path in files:
            fs.put_file(str(path), join(root, path.relative_to(self._private).as_posix()))
            os.remove(path)
        return len(files)

    def __del__(self) -> None:
        private = getattr(self, "_private", None)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)

    @staticmethod
    def _write_file(files: dict, kind: str, folder: str | None, index: int, name: str, table: pa.Table) -> None:
        """Append ``table`` to this partition's ``kind`` file in ``folder`` (opened on first use; None: skip)."""
        if folder is None:
            return
        if kind not in files:
            Path(folder).mkdir(parents=True, exist_ok=True)
            path = Path(folder) / f"part-{index:05d}-{name}.parquet"
            files[kind] = pq.ParquetWriter(path, table.schema, compression="zstd", write_page_checksum=True)
        files[kind].write_table(table)

    def _documents(self, tasks: list[dict]):
        """Kept documents of the partition's tasks, in task order (raw files pass the ingest stages)."""
        for task in tasks:
            if task["format"] == SEGMENTS_FORMAT:
                yield _read_segments(task["files"], task["keys"])
                continue
            if task["format"] == DOCUMENTS_FORMAT:
                with fsspec.open(task["uri"], "rb") as fh:
                    yield pq.ParquetFile(fh, page_checksum_verification=True).read_row_group(task.get("row_group") or 0, columns=["id", "source", "text"])
                continue
            if self.stages is None:
                raise ValueError(f"PartWriter: a raw-file task ({task['uri']}) needs a quarantine_dir")
            yield from run_chain(self.stages, self.reader(pa.Table.from_pylist([task])))


def _node_id() -> str:
    """The Ray node this worker runs on ("local" outside Ray)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


def _read_segments(files: list[str], keys: list[list[str]]) -> pa.Table:
    """The segments of the (source, record) pairs ``keys`` in the segment Parquet ``files``, ordered by
    :data:`SEGMENT_KEY`, with ``seq`` as ``text`` (DuckDB skips row groups whose source/record statistics miss).

    The pairs go in as two list parameters, zipped by ``unnest``: registering an Arrow table instead makes DuckDB
    import pandas (~0.8 s in a process that has not imported it yet)."""
    with duckdb.connect() as con:
        return con.sql(
            'SELECT id, source, record, "offset", seq AS text FROM read_parquet(?) SEMI JOIN '
            "(SELECT unnest(?::VARCHAR[]) AS k_source, unnest(?::VARCHAR[]) AS k_record) AS wanted "
            "ON source = k_source AND record = k_record ORDER BY " + _ORDER,
            params=[files, [k[0] for k in keys], [k[1] for k in keys]],
        ).to_arrow_table()


__all__ = ["DOCUMENTS_FORMAT", "SEGMENTS_FORMAT", "SEGMENT_KEY", "TOKEN_COLUMNS", "PartWriter", "part_name"]
