"""Fast streaming packer: best-fit-decreasing over a bounded buffer, rows built with vectorized numpy.

Follows the packing contract in :mod:`operators.pack.config` exactly (tested equal to
:class:`operators.pack.reference.ReferencePacker`). Documents come in as batches of flat token values plus
offsets (the layout of an Arrow list column), so no per-document Python work happens outside the BFD loop.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from tokenmill.operators.pack.config import PackedRow, PackerConfig, PackStats
from tokenmill.operators.pack.rows import PackedBatch, concat_ranges, materialize_rows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PreparedDocs:
    """Documents after BOS/EOS and the long-document policy: what gets stored and packed."""

    doc_ids: list[str]
    """Ids of the kept documents, in arrival order."""
    values: np.ndarray
    """Their stored tokens, concatenated."""
    lengths: np.ndarray
    """int64 stored length of every kept document."""
    first_key: int
    """Packer-wide ordinal of the first kept document (keys are consecutive)."""


class Packer:
    """Streaming best-fit-decreasing packer (numpy); memory bounded by ``buffer_docs`` pieces.

    Args:
        config: the packing config.
        dtype: numpy dtype tokens are stored and emitted in (e.g. ``np.uint16`` for vocabularies <= 65,536).

    Usage::

        packer = Packer(PackerConfig(context_length=4096))
        for batch in packer.add_batch(doc_ids, values, offsets):   # or packer.add(doc_id, ids)
            ...                                                    # PackedBatch: one BFD round of rows
        for batch in packer.flush():
            ...
    """

    def __init__(self, config: PackerConfig, *, dtype: np.dtype | type = np.int64) -> None:
        if config.eos_id == "auto":
            raise ValueError("Packer: eos_id='auto' must be resolved to the tokenizer's id first (operators.encode.resolve_eos_id)")
        self.config = config
        self.dtype = np.dtype(dtype)
        self.stats = PackStats()
        n = config.buffer_docs
        self._b_arrival = np.empty(n, np.int64)
        self._b_key = np.empty(n, np.int64)
        self._b_start = np.empty(n, np.int64)
        self._b_len = np.empty(n, np.int64)
        self._b_n = 0
        self._arrivals = 0
        # Tokens of documents that may still have pieces waiting, in one growable arena. Documents are found by
        # key through sorted parallel arrays; compaction keeps only documents with a waiting piece.
        self._arena = np.empty(1 << 16, self.dtype)
        self._arena_len = 0
        self._keys = np.empty(1024, np.int64)
        self._pos = np.empty(1024, np.int64)
        self._len = np.empty(1024, np.int64)
        self._n_docs = 0
        self._ids: list[str] = []
        self._compact_at = 1 << 16

    # ---- input --------------------------------------------------------------------------------------------
    def prepare(self, doc_ids: Sequence[str], values: np.ndarray, offsets: np.ndarray) -> PreparedDocs:
        """Apply BOS/EOS and the long-document policy to a batch; count what happened.

        Args:
            doc_ids: one id per document.
            values: all token ids of the batch, concatenated (any integer dtype).
            offsets: int64 array of ``len(doc_ids) + 1`` boundaries into ``values``.
        """
        cfg, st = self.config, self.stats
        offsets = np.asarray(offsets, np.int64)
        values = np.asarray(values)
        if len(offsets) != len(doc_ids) + 1:
            raise ValueError(f"Packer.prepare: offsets has {len(offsets)} entries for {len(doc_ids)} documents")
        lengths = np.diff(offsets)
        st.docs_in += len(doc_ids)
        st.tokens_in += int(lengths.sum())
        nb, ne = int(cfg.bos_id is not None), int(cfg.eos_id is not None)
        full_len = lengths + nb + ne
        full_off = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(full_len, out=full_off[1:])
        full = np.empty(int(full_off[-1]), self.dtype)
        src = values[offsets[0] : offsets[-1]]
        if nb or ne:  # a boolean mask of the token slots: cheaper than an int64 index per token
            slots = np.ones(len(full), bool)
            if nb:
                slots[full_off[:-1]] = False
            if ne:
                slots[full_off[1:] - 1] = False
            full[slots] = src
        else:
            full[:] = src
        if nb:
            full[full_off[:-1]] = cfg.bos_id
        if ne:
            full[full_off[1:] - 1] = cfg.eos_id
        keep_len = full_len.copy()
        empty = full_len == 0
        st.docs_empty += int(empty.sum())
        long = full_len > cfg.context_length
        if long.any():
            excess = full_len[long] - cfg.context_length
            if cfg.long_docs == "drop":
                st.docs_dropped_long += int(long.sum())
                st.tokens_dropped += int(full_len[long].sum())
                keep_len[long] = 0
            elif cfg.long_docs == "truncate":
                st.docs_truncated += int(long.sum())
                st.tokens_truncated += int(excess.sum())
                keep_len[long] = cfg.context_length
            else:
                st.docs_split += int(long.sum())
        kept = keep_len > 0
        kept_values = full if kept.all() and (keep_len == full_len).all() else full[concat_ranges(full_off[:-1][kept], keep_len[kept])]
        first_key = st.docs_kept
        st.docs_kept += int(kept.sum())
        ids = list(doc_ids) if kept.all() else [d for d, k in zip(doc_ids, kept.tolist()) if k]
        return PreparedDocs(doc_ids=ids, values=kept_values, lengths=keep_len[kept], first_key=first_key)

    def push(self, docs: PreparedDocs) -> list[PackedBatch]:
        """Enqueue prepared documents' pieces; return the rows of every round that completed."""
        cfg = self.config
        self._remember(docs)
        n_pieces = np.maximum(1, -(-docs.lengths // cfg.context_length))
        keys = np.repeat(np.arange(docs.first_key, docs.first_key + len(docs.lengths), dtype=np.int64), n_pieces)
        starts = concat_ranges(np.zeros(len(n_pieces), np.int64), n_pieces) * cfg.context_length
        lens = np.minimum(cfg.context_length, np.repeat(docs.lengths, n_pieces) - starts)
        self.stats.pieces += len(keys)
        out: list[PackedBatch] = []
        i = 0
        while i < len(keys):
            take = min(cfg.buffer_docs - self._b_n, len(keys) - i)
            s = slice(self._b_n, self._b_n + take)
            self._b_arrival[s] = np.arange(self._arrivals, self._arrivals + take)
            self._b_key[s], self._b_start[s], self._b_len[s] = keys[i : i + take], starts[i : i + take], lens[i : i + take]
            self._b_n += take
            self._arrivals += take
            i += take
            if self._b_n == cfg.buffer_docs:
                out.append(self._round(final=False))
        self._compact()
        return out

    def add_batch(self, doc_ids: Sequence[str], values: np.ndarray, offsets: np.ndarray) -> list[PackedBatch]:
        """``push(prepare(...))``: add a batch of documents, return completed rounds."""
        return self.push(self.prepare(doc_ids, values, offsets))

    def add(self, doc_id: str, ids: Sequence[int] | np.ndarray) -> list[PackedRow]:
        """Add one document; return the rows a completed round emitted (often none)."""
        ids = np.asarray(ids)
        batches = self.add_batch([doc_id], ids, np.array([0, len(ids)], np.int64))
        return [row for b in batches for row in b.rows()]

    def flush(self) -> list[PackedBatch]:
        """Pack everything still buffered (the end of the stream)."""
        if not self._b_n:
            return []
        out = [self._round(final=True)]
        self._compact()
        return out

    @property
    def buffered_pieces(self) -> int:
        """Pieces waiting in the buffer."""
        return self._b_n

    @property
    def held_tokens(self) -> int:
        """Tokens the packer holds in memory for documents with waiting pieces (after compaction)."""
        return self._arena_len

    # ---- internals ----------------------------------------------------------------------------------------
    def _remember(self, docs: PreparedDocs) -> None:
        n, d = len(docs.values), len(docs.lengths)
        if self._arena_len + n > len(self._arena):
            self._arena = _grow(self._arena, self._arena_len, self._arena_len + n)
        self._arena[self._arena_len : self._arena_len + n] = docs.values
        if self._n_docs + d > len(self._keys):
            size = self._n_docs + d
            self._keys, self._pos, self._len = (_grow(a, self._n_docs, size) for a in (self._keys, self._pos, self._len))
        s = slice(self._n_docs, self._n_docs + d)
        self._keys[s] = np.arange(docs.first_key, docs.first_key + d)
        self._len[s] = docs.lengths
        self._pos[s] = np.cumsum(docs.lengths) - docs.lengths + self._arena_len
        self._n_docs += d
        self._arena_len += n
        self._ids.extend(docs.doc_ids)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._keys[: self._n_docs], keys)

    def _compact(self) -> None:
        # Amortized: only when the arena doubled since the last compaction; then keep just the documents with a
        # waiting piece, so memory stays bounded by what the buffer refers to (not by the oldest waiting piece).
        if self._arena_len < self._compact_at:
            return
        live = self._lookup(np.unique(self._b_key[: self._b_n]))
        m = len(live)
        # One slice per live document (at most buffer_docs of them): cheaper than an int64 index per token.
        kept = [self._arena[p : p + n] for p, n in zip(self._pos[live].tolist(), self._len[live].tolist())]
        moved = np.concatenate(kept) if kept else self._arena[:0].copy()
        self._arena[: len(moved)] = moved
        self._arena_len = len(moved)
        self._keys[:m], self._len[:m] = self._keys[live], self._len[live]
        self._pos[:m] = np.cumsum(self._len[:m]) - self._len[:m]
        self._ids = [self._ids[i] for i in live.tolist()]
        self._n_docs = m
        self._compact_at = max(2 * self._arena_len, 1 << 16)

    def _round(self, *, final: bool) -> PackedBatch:
        cfg, n, C = self.config, self._b_n, self.config.context_length
        st = self.stats
        st.rounds += 1
        arrival, start, lens = self._b_arrival[:n], self._b_start[:n], self._b_len[:n]
        order = np.lexsort((start, arrival, -lens))
        item, offset, seg_len, seg_bin, room = best_fit_decreasing(lens[order], C, split_min=cfg.split_to_fill)
        st.fill_splits += len(item) - n
        src = order[item]  # buffer slot of every placed segment
        s_arrival, s_key, s_start = arrival[src], self._b_key[src], start[src] + offset
        nb = len(room)
        carried_bins = np.zeros(nb, bool)
        if not final and cfg.carry_budget > 0:
            counts = np.bincount(seg_bin, minlength=nb)
            by_fill = np.lexsort((np.arange(nb), C - room))
            bad = (room[by_fill] == 0) | (np.cumsum(counts[by_fill]) > cfg.carry_budget)
            k = int(bad.argmax()) if bad.any() else nb
            carried_bins[by_fill[:k]] = True
        carry = carried_bins[seg_bin]
        # Emitted segments grouped by row (rows in opening order), in placement order inside a row.
        emit = np.flatnonzero(~carry)
        emit = emit[np.argsort(seg_bin[emit], kind="stable")]
        row_of_bin = np.cumsum(~carried_bins) - 1
        keys = s_key[emit]
        where = self._lookup(keys)
        batch = materialize_rows(
            tokens=self._arena,
            seg_src=self._pos[where] + s_start[emit],
            seg_len=seg_len[emit],
            seg_row=row_of_bin[seg_bin[emit]],
            num_rows=int((~carried_bins).sum()),
            context_length=C,
            pad_id=cfg.pad_id,
        )
        batch.seg_key = keys
        batch.seg_start = s_start[emit]
        batch.doc_ids = [self._ids[i] for i in where.tolist()]
        keep = np.flatnonzero(carry)
        keep = keep[np.lexsort((s_start[keep], s_arrival[keep]))]  # back into arrival order
        m = len(keep)
        self._b_arrival[:m], self._b_key[:m] = s_arrival[keep], s_key[keep]
        self._b_start[:m], self._b_len[:m] = s_start[keep], seg_len[keep]
        self._b_n = m
        st.rows += batch.num_rows
        st.tokens += int(batch.num_tokens.sum())
        st.pad_tokens += batch.num_rows * C - int(batch.num_tokens.sum())
        return batch


def best_fit_decreasing(sorted_lens: np.ndarray, capacity: int, *, split_min: int = 0):
    """Place items (already sorted longest first) into bins of ``capacity`` by best fit.

    Each item goes to the open bin with the least remaining room that fits it (ties: the lowest bin index). When
    none fits and ``split_min > 0``, the item's head fills the roomiest bin (ties: lowest index) if that has at
    least ``split_min`` free slots, and the rest is placed the same way; otherwise the item opens a new bin.

    The open bins are kept as a sorted list of ``(room, bin)`` pairs, so both choices are one bisection (the
    first pair with room >= the item: least room, then lowest index) instead of a scan of every bin per item;
    :func:`best_fit_decreasing_scan` is the plain scan it is tested equal to.

    Returns:
        Arrays over the placed segments, in placement order: item index, offset inside the item, length, bin;
        then the remaining room of every bin.
    """
    rooms: list[int] = []  # remaining room of bin b
    by_room: list[tuple[int, int]] = []  # (room, bin) of every bin, sorted
    seg_item: list[int] = []
    seg_off: list[int] = []
    seg_len: list[int] = []
    seg_bin: list[int] = []
    find, insert = bisect.bisect_left, bisect.insort
    for i, length in enumerate(sorted_lens.tolist()):
        off = 0
        while True:
            rest = length - off
            j = -1
            if rooms:
                if rest < capacity:
                    p = find(by_room, (rest, -1))
                    if p < len(by_room):
                        j = by_room[p][1]
                if j < 0 and split_min:
                    top = by_room[-1][0]
                    if top >= split_min:  # the roomiest bin, lowest index among equals: the first pair with that room
                        p = find(by_room, (top, -1))
                        k = by_room.pop(p)[1]
                        insert(by_room, (0, k))
                        rooms[k] = 0
                        seg_item.append(i)
                        seg_off.append(off)
                        seg_len.append(top)
                        seg_bin.append(k)
                        off += top
                        continue
            if j < 0:
                j = len(rooms)
                rooms.append(capacity - rest)
                insert(by_room, (capacity - rest, j))
            else:
                room = rooms[j]
                del by_room[find(by_room, (room, j))]
                rooms[j] = room - rest
                insert(by_room, (room - rest, j))
            seg_item.append(i)
            seg_off.append(off)
            seg_len.append(rest)
            seg_bin.append(j)
            break
    as_arr = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
    return as_arr(seg_item), as_arr(seg_off), as_arr(seg_len), as_arr(seg_bin), np.array(rooms, dtype=np.int64)


def best_fit_decreasing_scan(sorted_lens: np.ndarray, capacity: int, *, split_min: int = 0):
    """Reference for :func:`best_fit_decreasing`: the same placement, scanning every open bin for each item."""
    rooms: list[int] = []  # remaining room of bin b
    segments: list[tuple[int, int, int, int]] = []  # (item, offset inside it, length, bin)
    for i, length in enumerate(sorted_lens.tolist()):
        off = 0
        while True:
            rest = length - off
            fitting = [(room, b) for b, room in enumerate(rooms) if room >= rest] if rest < capacity else []
            if not fitting and split_min and rooms and max(rooms) >= split_min:
                k = rooms.index(max(rooms))  # the roomiest bin, lowest index among equals, takes the item's head
                segments.append((i, off, rooms[k], k))
                off += rooms[k]
                rooms[k] = 0
                continue
            if fitting:
                j = min(fitting)[1]  # the least room that fits, lowest index among equals
            else:
                j = len(rooms)
                rooms.append(capacity)
            segments.append((i, off, rest, j))
            rooms[j] -= rest
            break
    item, offset, seg_len, seg_bin = (np.array([seg[f] for seg in segments], dtype=np.int64) for f in range(4))
    return item, offset, seg_len, seg_bin, np.array(rooms, dtype=np.int64)


def _grow(arr: np.ndarray, used: int, need: int) -> np.ndarray:
    grown = np.empty(max(2 * len(arr), need), arr.dtype)
    grown[:used] = arr[:used]
    return grown


def pack_documents(docs: Iterable[tuple[str, np.ndarray]], config: PackerConfig) -> Iterator[PackedRow]:
    """Pack ``(doc_id, ids)`` pairs into rows, streaming (memory bounded by ``config.buffer_docs``)."""
    packer = Packer(config)
    for doc_id, ids in docs:
        yield from packer.add(doc_id, ids)
    for batch in packer.flush():
        yield from batch.rows()
    log.info("packed %d documents into %d rows (utilization %.4f)", packer.stats.docs_kept, packer.stats.rows, packer.stats.utilization(config.context_length))
