"""Python owners of the numba state: a part of the corpus (:class:`CorpusPart`) and the global pair counts
(:class:`PairCounts`).

Numba kernels cannot grow the arrays they are given, so each kernel reports what is short and these classes
reallocate and call again. The in-process trainer runs one part (the whole corpus) whose local counts *are* the
global counts; the distributed trainer runs one part per Ray actor and a :class:`PairCounts` in the coordinator.
"""

from __future__ import annotations

import numpy as np

from tokenmill.operators.bpe import kernel_constants as L
from tokenmill.operators.bpe import kernels as K
from tokenmill.operators.bpe.corpus import EncodedCorpus


def _pow2(n: int) -> int:
    return 1 << max(4, int(n - 1).bit_length())


def _grown(arr: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    out = np.full(n, fill, arr.dtype)
    out[: len(arr)] = arr
    return out


class _Table:
    """Pair -> slot index plus per-slot arrays, with room kept for ``reserve`` new slots per step."""

    def __init__(self, sa: np.ndarray, sb: np.ndarray, cnt: np.ndarray, reserve: int) -> None:
        nslots = len(sa)
        cap = nslots + reserve
        self.sa, self.sb, self.cnt = _grown(sa, cap), _grown(sb, cap), _grown(cnt, cap)
        self.head = np.full(cap, -1, np.int32)
        self.meta = np.zeros(L.META_SIZE, np.int64)
        self.meta[L.NSLOTS] = nslots
        self.reserve = reserve
        self._reindex(_pow2(2 * cap))
        self.hc = np.empty(max(1024, 2 * nslots + reserve), np.int64)
        self.hs = np.empty(len(self.hc), np.int32)

    def _reindex(self, hcap: int) -> None:
        self.hkeys = np.full(hcap, L.EMPTY, np.int64)
        self.hvals = np.empty(hcap, np.int32)
        K.reindex(self.hkeys, self.hvals, self.sa, self.sb, int(self.meta[L.NSLOTS]))

    def grow_slots(self, needed: int) -> None:
        cap = max(needed, 2 * len(self.sa))
        self.sa, self.sb = _grown(self.sa, cap), _grown(self.sb, cap)
        self.cnt, self.head = _grown(self.cnt, cap), _grown(self.head, cap, -1)
        self._reindex(_pow2(2 * cap))

    def ensure_slots(self, n_new: int) -> None:
        need = int(self.meta[L.NSLOTS]) + n_new
        if need > len(self.sa) or 2 * need > len(self.hkeys):
            self.grow_slots(need)

    def ensure_heap(self, n_push: int) -> None:
        need = int(self.meta[L.HEAPN]) + n_push
        if need > len(self.hc):
            cap = max(need, 2 * len(self.hc))
            self.hc, self.hs = _grown(self.hc, cap), _grown(self.hs, cap)

    def build_heap(self, min_count: int) -> None:
        """(Re)build the heap from every pair counted at least ``min_count`` (= min_frequency) times."""
        self.min_count = max(1, int(min_count))
        self.ensure_heap(int(self.meta[L.NSLOTS]))
        K.heap_build(self.hc, self.hs, self.meta, self.sa, self.sb, self.cnt, int(self.meta[L.NSLOTS]), self.min_count)

    def best(self, pushed: np.ndarray, n_pushed: int) -> tuple[int, int, int] | None:
        """Push the grown slots and return the best pair ``(left, right, count)`` (kept in the heap), or None."""
        self.ensure_heap(n_pushed)
        s = K.push_and_pop(self.hc, self.hs, self.meta, self.sa, self.sb, self.cnt, pushed, n_pushed, self.min_count)
        if s < 0:
            return None
        return int(self.sa[s]), int(self.sb[s]), int(self.cnt[s])

    def set_count(self, a: int, b: int, value: int) -> None:
        s = K.find_slot(self.hkeys, self.hvals, a, b)
        if s >= 0:
            self.cnt[s] = value

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All pairs with a positive count: ``(keys, counts)``, key = left << 32 | right."""
        n = int(self.meta[L.NSLOTS])
        live = self.cnt[:n] > 0
        keys = (self.sa[:n].astype(np.int64) << 32) | self.sb[:n].astype(np.int64)
        return keys[live], self.cnt[:n][live].copy()


class PairCounts(_Table):
    """Global pair counts and the candidate heap, fed with the count deltas of the parts (coordinator side)."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, vocab_size: int, min_count: int) -> None:
        empty32 = np.zeros(0, np.int32)
        super().__init__(empty32, empty32, np.zeros(0, np.int64), reserve=2 * vocab_size + 1)
        self.pushed = np.empty(1024, np.int32)
        self.add(keys, counts)
        self.build_heap(min_count)

    def add(self, keys: np.ndarray, deltas: np.ndarray) -> int:
        """Add count deltas; returns the number of slots that grew (listed in ``self.pushed``)."""
        n = len(keys)
        self.ensure_slots(n)
        if n > len(self.pushed):
            self.pushed = np.empty(n, np.int32)
        return K.apply_deltas(self.hkeys, self.hvals, self.sa, self.sb, self.cnt, self.head, self.meta, keys, deltas, n, self.pushed)


class CorpusPart(_Table):
    """One part of the corpus: its token array, local pair counts and pair positions; applies merges incrementally.

    Args:
        corpus: the encoded sequences (their ``tok`` array is modified in place).
        tlen: token lengths by id (copied; grows as merges arrive).
        vocab_size: final vocabulary size (bounds the ids).
        max_token_length: longest token a merge may create (None: no limit).
        keep_min: new pairs whose count is below this get no slot (1: track all; see :mod:`~operators.bpe.merge_kernels`).
        implicit_min: pairs with at least this many occurrences are scanned for instead of listed
            (default: 1/4 of the part: listing is faster, scanning only pays for pathological pairs).
    """

    pool: np.ndarray
    bstart: np.ndarray

    def __init__(
        self, corpus: EncodedCorpus, tlen: np.ndarray, vocab_size: int, max_token_length: int | None, *, keep_min: int = 1, implicit_min: int | None = None
    ) -> None:
        self.tok, self.wpos, self.wval = corpus.tok, corpus.wpos, corpus.wval
        self.tlen = tlen.astype(np.int32).copy()
        self.vocab_size = vocab_size
        self.maxlen = int(max_token_length or 0)
        self.implicit_min = int(implicit_min or max(len(self.tok) // 4, 64))
        V = vocab_size
        self.scratch = np.zeros((10, 2 * V + 1), np.int64)
        self.out_keys = np.empty(4 * V + 4, np.int64)
        self.out_deltas = np.empty(4 * V + 4, np.int64)
        self.pushed = np.empty(2 * V + 2, np.int32)
        self.merged_total = 0
        self.rebuild(keep_min)

    def rebuild(self, keep_min: int) -> None:
        """Recount every pair of the current token array and rebuild the table, positions and heap arrays."""
        self.keep_min = max(1, int(keep_min))
        self.pool = self.bstart = np.empty(0, np.int64)  # free the old index before building the new one
        hkeys, hvals, sa, sb, cnt, nent, nslots = K.count_pairs(self.tok, self.tlen, self.wpos, self.wval, self.maxlen)
        keep = np.nonzero(cnt[:nslots] >= self.keep_min)[0]
        del hkeys, hvals
        n = len(keep)
        super().__init__(sa[keep], sb[keep], cnt[keep], reserve=2 * self.vocab_size + 1)
        nent = nent[keep]
        explicit = int(nent[nent < self.implicit_min].sum())
        pos_dtype = np.int32 if len(self.tok) < 2**31 else np.int64
        self.pool = np.empty(explicit + max(explicit // 4, len(self.tok) // 16, 1024), pos_dtype)
        nb = n + 4 * self.vocab_size + 16
        self.bstart = np.zeros(nb, np.int64)
        self.blen = np.zeros(nb, np.int32)
        self.bnext = np.full(nb, -1, np.int32)
        self.bslot = np.zeros(nb, np.int32)
        pool_len, nblocks = K.fill_positions(
            self.tok, self.tlen, self.hkeys, self.hvals, nent, n, self.implicit_min, self.pool, self.bstart, self.blen, self.bnext, self.bslot, self.head
        )
        self.meta[L.POOLN] = pool_len
        self.meta[L.NBLOCKS] = nblocks

    def apply(self, a: int, b: int, new: int, is_dup: bool) -> tuple[int, int]:
        """Merge (a, b) into ``new`` everywhere in the part; returns ``(n_out, n_pushed)`` (see ``apply_merge``)."""
        while True:
            status, n_out, n_pushed, merged, self.pool = K.apply_merge(
                self.tok,
                self.tlen,
                self.wpos,
                self.wval,
                self.hkeys,
                self.hvals,
                self.sa,
                self.sb,
                self.cnt,
                self.head,
                self.meta,
                self.pool,
                self.bstart,
                self.blen,
                self.bnext,
                self.bslot,
                self.scratch,
                self.out_keys,
                self.out_deltas,
                self.pushed,
                a,
                b,
                new,
                is_dup,
                self.maxlen,
                self.keep_min,
                self.implicit_min,
            )
            if status == 0:
                self.merged_total += merged
                return n_out, n_pushed
            if status == L.NEED_SLOTS:
                self.grow_slots(n_out)
            elif status == L.NEED_BLOCKS:
                cap = max(n_out, len(self.bstart) + len(self.bstart) // 2)
                self.bstart, self.blen = _grown(self.bstart, cap), _grown(self.blen, cap)
                self.bnext, self.bslot = _grown(self.bnext, cap, -1), _grown(self.bslot, cap)

    def deltas(self, n_out: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the last step's count changes ``(keys, deltas)``."""
        return self.out_keys[:n_out].copy(), self.out_deltas[:n_out].copy()

    def symbols(self) -> int:
        """Number of tokens the part's sequences are cut into now."""
        # A symbol longer than one character has its id at both ends: count those once. In chunks, so the
        # temporaries stay small next to a multi-GB token array.
        marked = long_ends = 0
        for i in range(0, len(self.tok), 1 << 20):
            chunk = self.tok[i : i + (1 << 20)]
            valid = chunk >= 0
            marked += int(np.count_nonzero(valid))
            long_ends += int(np.count_nonzero(valid & (self.tlen[np.maximum(chunk, 0)] > 1)))
        return marked - long_ends // 2
