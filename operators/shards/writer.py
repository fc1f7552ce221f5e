"""ShardWriter: tokenized documents in, a committed packed shard set (Megatron .bin/.idx + plan, Parquet) out.

Streaming use (e.g. on the Ray driver, fed from ``ds.iter_batches(batch_format="pyarrow")``)::

    with ShardWriter(out_dir, ShardWriterConfig(), vocab_size=50257, tokenizer_hash=h, run_id=run) as writer:
        for table in batches:                      # columns doc_id: string, input_ids: list<integer>
            writer.add_table(table)
    manifest = writer.manifest                     # committed: out_dir/manifest.json

Parallel use: every worker writes its own shards with ``commit=False`` (names never collide) and returns
``writer.close()``; the driver then calls :func:`commit_shards` once with all the parts. Either way a shard holds
whole documents only and the manifest is written last, atomically (see :mod:`operators.shards.manifest`).
One shard set is written into a directory at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tokenmill.operators.core.atomic import replace_atomic
from tokenmill.operators.pack.packer import Packer
from tokenmill.operators.pack.rows import PackedBatch
from tokenmill.operators.shards.config import ShardWriterConfig, token_dtype
from tokenmill.operators.shards.manifest import (
    build_manifest,
    collect_garbage,
    file_entry,
    shard_file_names,
    tmp_name,
    write_manifest,
)
from tokenmill.operators.shards.megatron import MegatronWriter
from tokenmill.operators.shards.parquet import BufferedParquetWriter, plan_schema, plan_table, rows_schema, rows_table

log = logging.getLogger(__name__)


class _OpenShard:
    """The files of the shard being written, under temporary names."""

    def __init__(self, out_dir: Path, name: str, first_key: int, config: ShardWriterConfig, dtype: np.dtype, provenance: dict[str, Any] | None = None) -> None:
        self.name, self.first_key, self.config = name, first_key, config
        self.final = {k: out_dir / v for k, v in shard_file_names(name, config.kinds).items()}
        self.tmp = {k: tmp_name(p) for k, p in self.final.items()}
        for p in self.final.values():
            p.parent.mkdir(exist_ok=True)
        C, pad = config.pack.context_length, config.pack.pad_id
        kw = {"row_group_rows": config.row_group_rows, "zstd_level": config.zstd_level}
        self.megatron = MegatronWriter(self.tmp["bin"], self.tmp["idx"], dtype) if "bin" in self.tmp else None
        self.plan = BufferedParquetWriter(self.tmp["plan"], plan_schema(C, dtype, pad, provenance), **kw) if "plan" in self.tmp else None
        self.rows = BufferedParquetWriter(self.tmp["rows"], rows_schema(C, dtype, pad, provenance), **kw) if "rows" in self.tmp else None
        self.counts = {"rows": 0, "documents": 0, "segments": 0, "tokens": 0, "pad_tokens": 0, "stored_tokens": 0}

    def add_docs(self, values: np.ndarray, lengths: np.ndarray) -> None:
        self.counts["documents"] += len(lengths)
        self.counts["stored_tokens"] += len(values)
        if self.megatron is not None:
            self.megatron.add(values, lengths)

    def add_rows(self, batch: PackedBatch) -> None:
        if self.rows is not None:
            self.rows.write(rows_table(batch, self.rows.schema))
        if self.plan is not None:
            self.plan.write(plan_table(batch, batch.seg_key - self.first_key, self.plan.schema))
        tokens = int(batch.num_tokens.sum())
        self.counts["rows"] += batch.num_rows
        self.counts["segments"] += len(batch.seg_len)
        self.counts["tokens"] += tokens
        self.counts["pad_tokens"] += batch.num_rows * self.config.pack.context_length - tokens

    def commit(self, out_dir: Path) -> dict[str, Any]:
        """Finish every file, fsync, rename to the final names; return the shard's manifest entry."""
        if self.megatron is not None:
            self.megatron.close()
        for w in (self.plan, self.rows):
            if w is not None:
                w.close()
        for kind, tmp in self.tmp.items():
            replace_atomic(tmp, self.final[kind])
        entry: dict[str, Any] = {"name": self.name, **{k: v for k, v in self.counts.items() if k != "stored_tokens"}}
        entry["files"] = {k: file_entry(p, out_dir) for k, p in self.final.items()}
        return entry

    def abort(self) -> None:
        if self.megatron is not None:
            self.megatron.abort()
        for w in (self.plan, self.rows):
            if w is not None:
                w.abort()
        for p in self.tmp.values():
            p.unlink(missing_ok=True)


class ShardWriter:
    """Pack tokenized documents and write them as a shard set with an atomic manifest.

    Args:
        out_dir: directory of the shard set (created if missing).
        config: shard and packing config.
        vocab_size: tokenizer vocabulary size; picks the token dtype (uint16 up to 65,536, else int32) and
            bounds every token id.
        tokenizer_hash: hash of the tokenizer the ids came from (recorded in the manifest).
        run_id: id of the run that produced the documents (recorded in the manifest).
        source: free-form provenance recorded in the manifest (input paths, fingerprints...).
        commit: write the manifest at :meth:`close` (False: return the shard entries for :func:`commit_shards`).
        name: shard names are ``shard-<name>-00000``...; give each parallel writer its own, derived from its input
            (e.g. the partition index), so that the same input gives the same names (default: a random token).
        part: this writer's place among parallel writers (the partition index; recorded in the shard files so
            verify_shards catches a reordered shard list).
    """

    def __init__(
        self,
        out_dir: str | Path,
        config: ShardWriterConfig,
        *,
        vocab_size: int,
        tokenizer_hash: str,
        run_id: str,
        source: dict[str, Any] | None = None,
        commit: bool = True,
        name: str | None = None,
        part: int = 0,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.vocab_size = vocab_size
        self.dtype = token_dtype(vocab_size)
        for key in ("pad_id", "bos_id", "eos_id"):
            value = getattr(config.pack, key)
            if value == "auto":
                raise ValueError("shards.pack.eos_id='auto' must be resolved to the tokenizer's id before writing (operators.encode.resolve_eos_id)")
            if value is not None and value >= vocab_size:
                raise ValueError(f"pack.{key}={value} is not below vocab_size={vocab_size}")
        self.tokenizer_hash, self.run_id, self.source, self.commit = tokenizer_hash, run_id, source or {}, commit
        self.packer = Packer(config.pack, dtype=self.dtype)
        self._token = name or uuid.uuid4().hex[:12]
        self._part = part
        self._shards: list[dict[str, Any]] = []
        self._cur: _OpenShard | None = None
        self._closed = False
        self.manifest: dict[str, Any] | None = None

    @classmethod
    def for_part(
        cls, out_dir: str | Path, config: ShardWriterConfig, *, vocab_size: int, tokenizer_hash: str, run_id: str, name: str, part: int
    ) -> ShardWriter:
        """The writer of one partition's uncommitted part of a shard set (``commit=False``), its shards named after
        the partition's content ``name``: what pack_shards' part writers and the corpus build's packers write, before
        the driver commits all the parts with :func:`commit_shards`."""
        return cls(out_dir, config, vocab_size=vocab_size, tokenizer_hash=tokenizer_hash, run_id=run_id, commit=False, name=name, part=part)

    # ---- input --------------------------------------------------------------------------------------------
    def add(self, doc_id: str, ids: Sequence[int] | np.ndarray) -> None:
        """Add one tokenized document."""
        ids = np.asarray(ids)
        self.add_batch([doc_id], ids, np.array([0, len(ids)], np.int64))

    def add_batch(self, doc_ids: Sequence[str], values: np.ndarray, offsets: np.ndarray) -> None:
        """Add documents given as concatenated ids and ``len(doc_ids) + 1`` offsets (an Arrow list's layout)."""
        if self._closed:
            raise ValueError("ShardWriter: add after close")
        values, offsets = np.asarray(values), np.asarray(offsets, np.int64)
        used = values[offsets[0] : offsets[-1]] if len(offsets) else values[:0]
        if used.size:
            if not np.issubdtype(used.dtype, np.integer):
                raise ValueError(f"ShardWriter: token ids must be integers, got {used.dtype}")
            lo, hi = int(used.min()), int(used.max())
            if lo < 0 or hi >= self.vocab_size:
                bad = int(np.flatnonzero((used < 0) | (used >= self.vocab_size))[0]) + int(offsets[0])
                doc = int(np.searchsorted(offsets, bad, side="right")) - 1
                raise ValueError(f"ShardWriter: document {doc_ids[doc]!r} has token id {int(values[bad])} outside [0, {self.vocab_size})")
        if self._cur is None:
            self._cur = self._open_shard()
        prepared = self.packer.prepare(doc_ids, values, offsets)
        self._cur.add_docs(prepared.values, prepared.lengths)
        for batch in self.packer.push(prepared):
            self._cur.add_rows(batch)
        if self._cur.counts["stored_tokens"] >= self.config.shard_tokens:
            self._close_shard()

    def add_table(self, table: pa.Table | pa.RecordBatch, *, id_column: str = "doc_id", ids_column: str = "input_ids") -> None:
        """Add documents from an Arrow table with a string id column and a list-of-integers id column."""
        missing = [c for c in (id_column, ids_column) if c not in table.schema.names]
        if missing:
            raise ValueError(f"ShardWriter.add_table: missing column(s) {', '.join(missing)}; have {table.schema.names}")
        col = table.column(ids_column)
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
            raise ValueError(f"ShardWriter.add_table: column {ids_column} must be a list of integers, got {col.type}")
        ids = table.column(id_column).to_pylist()
        self.add_batch([str(i) for i in ids], col.values.to_numpy(zero_copy_only=False), col.offsets.to_numpy())

    # ---- output -------------------------------------------------------------------------------------------
    @property
    def stats(self):
        """The packer's counters so far."""
        return self.packer.stats

    def close(self) -> dict[str, Any]:
        """Flush, finish the last shard and commit; return the manifest (or the parts when ``commit=False``)."""
        if self._closed:
            raise ValueError("ShardWriter: closed twice")
        if self._cur is not None:
            self._close_shard()
        self._closed = True
        part = {"shards": self._shards, "pack_stats": self.packer.stats.as_dict()}
        if not self.commit:
            return part
        self.manifest = commit_shards(
            self.out_dir,
            [part],
            config=self.config,
            vocab_size=self.vocab_size,
            tokenizer_hash=self.tokenizer_hash,
            run_id=self.run_id,
            source=self.source,
        )
        return self.manifest

    def abort(self) -> None:
        """Give up: remove this writer's files; the directory keeps whatever set was committed before."""
        if self._cur is not None:
            self._cur.abort()
            self._cur = None
        for shard in self._shards:
            for f in shard["files"].values():
                (self.out_dir / f["path"]).unlink(missing_ok=True)
        self._shards = []
        self._closed = True

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    # ---- internals ----------------------------------------------------------------------------------------
    def _open_shard(self) -> _OpenShard:
        name = f"shard-{self._token}-{len(self._shards):05d}"
        provenance = {
            "tokenizer_hash": self.tokenizer_hash,
            "vocab_size": self.vocab_size,
            "pack": dataclasses.asdict(self.config.pack),
            "part": self._part,
            "seq": len(self._shards),
        }
        return _OpenShard(self.out_dir, name, self.packer.stats.docs_kept, self.config, self.dtype, provenance)

    def _close_shard(self) -> None:
        cur = self._cur
        assert cur is not None
        for batch in self.packer.flush():  # a shard holds whole documents: pack what is buffered now
            cur.add_rows(batch)
        self._cur = None
        if cur.counts["documents"] == 0:
            cur.abort()
            return
        entry = cur.commit(self.out_dir)
        self._shards.append(entry)
        log.info("shard %s: %d rows, %d tokens, %d documents", entry["name"], entry["rows"], entry["tokens"], entry["documents"])


def commit_shards(
    out_dir: str | Path,
    parts: list[dict[str, Any]],
    *,
    config: ShardWriterConfig,
    vocab_size: int,
    tokenizer_hash: str,
    run_id: str,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the manifest of the shards in ``parts`` (each the return of ``ShardWriter(commit=False).close()``).

    Shards keep the order of ``parts``. Files in ``out_dir`` from earlier sets are removed only after the new
    manifest is durable.
    """
    shards = [s for p in parts for s in p["shards"]]
    stats: dict[str, int] = {}
    for p in parts:
        for k, v in p["pack_stats"].items():
            stats[k] = stats.get(k, 0) + int(v)
    manifest = build_manifest(
        shards=shards,
        config=config,
        vocab_size=vocab_size,
        tokenizer_hash=tokenizer_hash,
        run_id=run_id,
        token_dtype=token_dtype(vocab_size).name,
        pack_stats=stats,
        source=source,
    )
    write_manifest(out_dir, manifest)
    collect_garbage(out_dir, manifest)
    t = manifest["totals"]
    log.info("committed %d shards to %s: %d rows, %d tokens, utilization %.4f", t["shards"], out_dir, t["rows"], t["tokens"], t["utilization"])
    return manifest
