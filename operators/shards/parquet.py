"""Parquet files of a shard: packed rows (one record per row) and the pack plan sidecar of the Megatron data.

``rows/{shard}.parquet`` (zstd), one record per packed row:
``input_ids`` fixed_size_list<uint16|int32>[C], ``position_ids`` fixed_size_list<int32>[C],
``loss_mask`` fixed_size_list<uint8>[C], ``cu_seqlens`` list<int32>, ``doc_ids`` list<string>,
``doc_offsets`` list<int64> (start of each segment inside its document), ``num_tokens`` int32.

``plan/{shard}.parquet``, one record per packed row: the row as (doc, start, length) triples, ``doc`` being the
document (= sequence) index in the shard's ``.bin``, plus the ``doc_id`` of each; enough to rebuild the rows
from the ``.bin`` without packing again.

Both carry ``tokenmill.format`` (and the context length, pad id, token dtype) in the schema metadata.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tokenmill.operators.pack.rows import PackedBatch
from tokenmill.operators.shards.config import PLAN_FORMAT, ROWS_FORMAT


def rows_schema(context_length: int, dtype: np.dtype, pad_id: int, provenance: dict | None = None) -> pa.Schema:
    """Arrow schema of ``rows/{shard}.parquet``."""
    C = context_length
    return pa.schema(
        [
            ("input_ids", pa.list_(pa.from_numpy_dtype(dtype), C)),
            ("position_ids", pa.list_(pa.int32(), C)),
            ("loss_mask", pa.list_(pa.uint8(), C)),
            ("cu_seqlens", pa.list_(pa.int32())),
            ("doc_ids", pa.list_(pa.string())),
            ("doc_offsets", pa.list_(pa.int64())),
            ("num_tokens", pa.int32()),
        ],
        metadata=_meta(ROWS_FORMAT, context_length, dtype, pad_id, provenance),
    )


def plan_schema(context_length: int, dtype: np.dtype, pad_id: int, provenance: dict | None = None) -> pa.Schema:
    """Arrow schema of ``plan/{shard}.parquet``."""
    return pa.schema(
        [
            ("doc", pa.list_(pa.int64())),
            ("start", pa.list_(pa.int64())),
            ("length", pa.list_(pa.int32())),
            ("doc_id", pa.list_(pa.string())),
        ],
        metadata=_meta(PLAN_FORMAT, context_length, dtype, pad_id, provenance),
    )


def _meta(fmt: str, context_length: int, dtype: np.dtype, pad_id: int, provenance: dict | None = None) -> dict[bytes, bytes]:
    # provenance: what the manifest also says (tokenizer hash, vocab size, pack config, the shard's place in the set),
    # kept in the shard's own files so verify_shards can catch a manifest that was edited to disagree with them.
    info = {"context_length": context_length, "token_dtype": np.dtype(dtype).name, "pad_id": pad_id, **(provenance or {})}
    return {b"tokenmill.format": fmt.encode(), b"tokenmill.info": json.dumps(info).encode()}


def rows_table(batch: PackedBatch, schema: pa.Schema) -> pa.Table:
    """The packed rows of a batch as a table of :func:`rows_schema`."""
    _R, C = batch.input_ids.shape
    fixed = lambda a, t: pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1), type=t), C)  # noqa: E731
    seg = batch.seg_offsets
    return pa.Table.from_arrays(
        [
            fixed(batch.input_ids, schema.field("input_ids").type.value_type),
            fixed(batch.position_ids, pa.int32()),
            fixed(batch.loss_mask, pa.uint8()),
            pa.ListArray.from_arrays(pa.array(batch.cu_offsets.astype(np.int32)), pa.array(batch.cu_values, pa.int32())),
            pa.ListArray.from_arrays(pa.array(seg.astype(np.int32)), pa.array(batch.doc_ids, pa.string())),
            pa.ListArray.from_arrays(pa.array(seg.astype(np.int32)), pa.array(batch.seg_start, pa.int64())),
            pa.array(batch.num_tokens.astype(np.int32), pa.int32()),
        ],
        schema=schema,
    )


def plan_table(batch: PackedBatch, doc_index: np.ndarray, schema: pa.Schema) -> pa.Table:
    """The pack plan of a batch (``doc_index``: every segment's sequence index in the shard's ``.bin``)."""
    seg = pa.array(batch.seg_offsets.astype(np.int32))
    return pa.Table.from_arrays(
        [
            pa.ListArray.from_arrays(seg, pa.array(doc_index, pa.int64())),
            pa.ListArray.from_arrays(seg, pa.array(batch.seg_start, pa.int64())),
            pa.ListArray.from_arrays(seg, pa.array(batch.seg_len.astype(np.int32), pa.int32())),
            pa.ListArray.from_arrays(seg, pa.array(batch.doc_ids, pa.string())),
        ],
        schema=schema,
    )


class BufferedParquetWriter:
    """A zstd Parquet writer that gathers tables into row groups of ``row_group_rows`` rows."""

    def __init__(self, path: str | Path, schema: pa.Schema, *, row_group_rows: int, zstd_level: int) -> None:
        self.path = Path(path)
        self.schema = schema
        self.row_group_rows = row_group_rows
        # No dictionary pages: token ids and per-row lists rarely repeat, so dictionaries only cost time (~35 % of
        # the write) and space (~15 % larger files).
        self._writer = pq.ParquetWriter(self.path, schema, compression="zstd", compression_level=zstd_level, use_dictionary=False)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Queue rows; full row groups are written at once."""
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        if not self._pending_rows:
            return
        table = pa.concat_tables(self._pending)
        n = table.num_rows if final else table.num_rows - table.num_rows % self.row_group_rows
        if n:
            self._writer.write_table(table.slice(0, n), row_group_size=self.row_group_rows)
        rest = table.slice(n)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        """Write what is left and close the file (the caller fsyncs and renames it)."""
        self._drain(final=True)
        self._writer.close()

    def abort(self) -> None:
        """Close without writing what is pending."""
        with contextlib.suppress(Exception):
            self._writer.close()


def read_checked(path: str | Path, expected_format: str) -> pa.Table:
    """Read a shard Parquet file and check its ``tokenmill.format``.

    Raises:
        ValueError: when the file is not of ``expected_format``.
    """
    table = pq.read_table(path)
    fmt = (table.schema.metadata or {}).get(b"tokenmill.format", b"").decode()
    if fmt != expected_format:
        raise ValueError(f"{path}: tokenmill.format is {fmt!r}, expected {expected_format!r}")
    return table


def list_column(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (flat values, int64 offsets of length rows + 1)."""
    col = table.column(name).combine_chunks()
    if isinstance(col, pa.FixedSizeListArray):
        values = col.flatten().to_numpy(zero_copy_only=False)
        return values, np.arange(len(col) + 1, dtype=np.int64) * col.type.list_size
    offsets = col.offsets.to_numpy().astype(np.int64)
    values = col.values.to_numpy(zero_copy_only=False) if not pa.types.is_string(col.type.value_type) else np.array(col.values.to_pylist(), dtype=object)
    return values[offsets[0] : offsets[-1]], offsets - offsets[0]
