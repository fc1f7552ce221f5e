"""Numba kernels for the pair table (open-addressing hash: pair -> slot) and the max-heap of candidate merges.

Shared by the in-process trainer, the corpus-part actors and the distributed coordinator. A *slot* is a dense index
for one pair (left id, right id); per-slot arrays hold the pair (``sa``, ``sb``), its count (``cnt``) and, in
a corpus part, the head of its position-block list (``head``). Slots are never deleted: a pair whose count drops to
zero keeps its slot (so a re-formed pair finds it again).

The heap holds (count, slot) entries ordered by count descending, then (left id, right id) ascending — the
documented tie-break. Entries go stale when a count changes; they are checked when they reach the top
(lazy invalidation, as in HF ``BpeTrainer``): a pair gets a new entry whenever its count grows, so every live
pair always has an entry >= its count and the first fresh top is the exact argmax.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tokenmill.operators.bpe.kernel_constants import EMPTY, HEAPN, NSLOTS, signatures

EXPORTS = {  # the kernels Python calls (through operators.bpe.kernels) -> their numba signatures, for the AOT build
    "find_slot": signatures("i8(i8[:], i4[:], i8, i8)"),
    "reindex": signatures("void(i8[:], i4[:], i4[:], i4[:], i8)"),
    "heap_build": signatures("void(i8[:], i4[:], i8[:], i4[:], i4[:], i8[:], i8, i8)"),
    "push_and_pop": signatures("i8(i8[:], i4[:], i8[:], i4[:], i4[:], i8[:], i4[:], i8, i8)"),
    "apply_deltas": signatures("i8(i8[:], i4[:], i4[:], i4[:], i8[:], i4[:], i8[:], i8[:], i8[:], i8, i4[:])"),
}


@njit(cache=True, inline="always")
def _bucket(a: int, b: int, mask: int) -> int:
    # Constants < 2**31 keep the products inside int64 for ids < 2**31 (no overflow games).
    h = a * 0x5BD1E995 + b * 0x27D4EB2F
    h ^= h >> 17
    return h & mask


@njit(cache=True, inline="always")
def _probe(hkeys, a, b):
    """``(i, key)``: the entry of pair (a, b) in ``hkeys``, or the empty entry where it would go (linear probing)."""
    key = (np.int64(a) << 32) | np.int64(b)
    mask = hkeys.shape[0] - 1
    i = _bucket(np.int64(a), np.int64(b), mask)
    while hkeys[i] != key and hkeys[i] != EMPTY:
        i = (i + 1) & mask
    return i, key


@njit(cache=True, inline="always")
def find_slot(hkeys, hvals, a, b):
    """Slot of pair (a, b), or -1."""
    i, key = _probe(hkeys, a, b)
    if hkeys[i] == key:
        return hvals[i]
    return -1


@njit(cache=True, inline="always")
def find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, a, b):
    """Slot of pair (a, b), created with count 0 if new. The caller guarantees room (see ``table_room``)."""
    i, key = _probe(hkeys, a, b)
    if hkeys[i] == key:
        return hvals[i]
    s = meta[NSLOTS]
    meta[NSLOTS] = s + 1
    hkeys[i] = key
    hvals[i] = s
    sa[s] = a
    sb[s] = b
    cnt[s] = 0
    head[s] = -1
    return s


@njit(cache=True)
def reindex(hkeys, hvals, sa, sb, nslots):
    """Insert slots ``0..nslots-1`` into the empty index ``hkeys``/``hvals``."""
    for s in range(nslots):
        i, key = _probe(hkeys, sa[s], sb[s])  # slots are distinct pairs: always an empty entry
        hkeys[i] = key
        hvals[i] = s


@njit(cache=True)
def grow(arr, n):
    out = np.zeros(n, arr.dtype)
    m = min(arr.shape[0], n)
    out[:m] = arr[:m]
    return out


# ----------------------------------------------------------------------------------------------- heap


@njit(cache=True, inline="always")
def _better(c1, s1, c2, s2, sa, sb):
    """True when entry (c1, s1) ranks above (c2, s2): higher count, then smaller (left, right) ids."""
    if c1 != c2:
        return c1 > c2
    if sa[s1] != sa[s2]:
        return sa[s1] < sa[s2]
    return sb[s1] < sb[s2]


@njit(cache=True, inline="always")
def _sift_up(hc, hs, sa, sb, i, c, s):
    """Put entry (count c, slot s) into the hole at ``i``, moving the ancestors it ranks above down one level."""
    while i > 0:
        parent = (i - 1) >> 1
        if _better(c, s, hc[parent], hs[parent], sa, sb):
            hc[i] = hc[parent]
            hs[i] = hs[parent]
            i = parent
        else:
            break
    hc[i] = c
    hs[i] = s


@njit(cache=True, inline="always")
def heap_push(hc, hs, meta, sa, sb, c, s):
    """Push (count c, slot s). The caller guarantees room."""
    i = meta[HEAPN]
    meta[HEAPN] = i + 1
    _sift_up(hc, hs, sa, sb, i, c, s)


@njit(cache=True, inline="always")
def _heap_pop_root(hc, hs, meta, sa, sb):
    """Remove the root: its hole goes down to a leaf along the better children, then the last entry goes up from
    there (as CPython's heapq pops). Entries are distinct or identical, so the heap ends as a sift-down leaves it."""
    n = meta[HEAPN] - 1
    meta[HEAPN] = n
    i = 0
    child = 1
    while child < n:
        if child + 1 < n and _better(hc[child + 1], hs[child + 1], hc[child], hs[child], sa, sb):
            child += 1
        hc[i] = hc[child]
        hs[i] = hs[child]
        i = child
        child = 2 * i + 1
    if n > 0:
        _sift_up(hc, hs, sa, sb, i, hc[n], hs[n])


@njit(cache=True)
def heap_build(hc, hs, meta, sa, sb, cnt, nslots, min_count):
    """Fill the (empty) heap with every slot whose count is at least ``min_count`` (and positive)."""
    meta[HEAPN] = 0
    for s in range(nslots):
        if cnt[s] >= min_count and cnt[s] > 0:
            heap_push(hc, hs, meta, sa, sb, cnt[s], s)


@njit(cache=True)
def push_and_pop(hc, hs, meta, sa, sb, cnt, pushed, npushed, min_count):
    """Push the slots whose count grew this step, then return the best live slot (or -1), left in the heap.

    Pairs below ``min_count`` (= min_frequency) can never be merged, so they are not pushed. Stale tops (count
    changed since pushed) are dropped, and re-pushed with their current count if still eligible, until the top
    is fresh: that top is the exact argmax under the tie-break.
    """
    for i in range(npushed):
        s = pushed[i]
        if cnt[s] >= min_count and cnt[s] > 0:
            heap_push(hc, hs, meta, sa, sb, cnt[s], s)
    while meta[HEAPN] > 0:
        c = hc[0]
        s = hs[0]
        cur = cnt[s]
        if c == cur:
            return s
        _heap_pop_root(hc, hs, meta, sa, sb)
        if cur >= min_count and cur > 0:
            heap_push(hc, hs, meta, sa, sb, cur, s)
    return -1


@njit(cache=True)
def apply_deltas(hkeys, hvals, sa, sb, cnt, head, meta, keys, deltas, n, pushed):
    """Coordinator side: add ``deltas[i]`` to pair ``keys[i]``; return how many slots grew (listed in ``pushed``).

    The caller guarantees table room for ``n`` new slots.
    """
    npushed = 0
    for i in range(n):
        key = keys[i]
        s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, key >> 32, key & 0xFFFFFFFF)
        cnt[s] += deltas[i]
        if deltas[i] > 0:
            pushed[npushed] = s
            npushed += 1
    return npushed
