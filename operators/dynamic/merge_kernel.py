"""The numba kernel of dynamic BPE: greedy pair merging over the *distinct* units of a batch.

Units that hold the same base token sequence evolve identically (merges never cross units), so the kernel works
on each distinct unit once, weighted by how often it occurs. Pair counts live in a hash map and a lazy max-heap
ordered by (-count, left, right): the heap top is the most frequent pair, ties going to the smallest left id,
then the smallest right id. When a pair is merged, each unit holding it is rewritten left to right
(non-overlapping, as ``a a a`` -> ``aa a``) and only the pairs next to each merged occurrence change count;
changed counts are pushed again and stale heap entries are skipped when popped.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit, types
from numba.typed import Dict


@njit(cache=True, inline="always")
def _valid(x: int, y: int, all_ws: np.ndarray, clean: np.ndarray, no_ws: np.ndarray) -> bool:
    # Whitespace rule: the merged surface is all whitespace, or whitespace is at most its first character.
    return (all_ws[x] and all_ws[y]) or (clean[x] and no_ws[y])


@njit(cache=True, inline="always")
def _add(counts, touched, x, y, delta, key_mul, all_ws, clean, no_ws) -> None:
    if _valid(x, y, all_ws, clean, no_ws):
        k = np.int64(x) * key_mul + y
        counts[k] = counts.get(k, 0) + delta
        touched[k] = 0


@njit(cache=True)
def merge_units(
    toks: np.ndarray,
    ustart: np.ndarray,
    ulen: np.ndarray,
    weight: np.ndarray,
    all_ws: np.ndarray,
    clean: np.ndarray,
    no_ws: np.ndarray,
    base_vocab: int,
    max_merges: int,
    min_count: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge the most frequent valid pair up to ``max_merges`` times (in place on ``toks``/``ulen``/flags).

    Args:
        toks: int32 tokens of the distinct units, concatenated; unit ``u`` is ``toks[ustart[u]:ustart[u]+ulen[u]]``.
        ustart, ulen, weight: int64 per distinct unit: start, current length, number of occurrences.
        all_ws, clean, no_ws: bool per id (sized ``base_vocab + max_merges``): surface is all whitespace / has
            whitespace at most at its first character / has no whitespace; filled in for new ids here.
        base_vocab: first new id.
        max_merges: merge budget (the caller caps it at the number of tokens that can disappear).
        min_count: stop when the best pair occurs fewer times than this.

    Returns:
        (left, right, merge_count, removed): per merge, the pair, its count and by how many tokens it shortened
        the batch.
    """
    key_mul = np.int64(base_vocab + max_merges + 1)
    counts = Dict.empty(key_type=types.int64, value_type=types.int64)
    n_units = len(ustart)
    for u in range(n_units):
        s = ustart[u]
        w = weight[u]
        for i in range(ulen[u] - 1):
            x = toks[s + i]
            y = toks[s + i + 1]
            if _valid(x, y, all_ws, clean, no_ws):
                k = np.int64(x) * key_mul + y
                counts[k] = counts.get(k, 0) + w
    heap = [(np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for k, c in counts.items():
        heap.append((-c, k // key_mul, k % key_mul))
    heapq.heapify(heap)

    left = np.empty(max_merges, np.int32)
    right = np.empty(max_merges, np.int32)
    merge_count = np.empty(max_merges, np.int64)
    removed = np.empty(max_merges, np.int64)
    touched = Dict.empty(key_type=types.int64, value_type=types.int64)
    m = 0
    while m < max_merges:
        best = np.int64(0)
        a = np.int64(-1)
        b = np.int64(-1)
        while len(heap) > 0:
            neg, x, y = heapq.heappop(heap)
            c = counts.get(x * key_mul + y, 0)
            if c > 0 and c == -neg:
                best, a, b = c, x, y
                break
        if a < 0 or best < min_count:
            break
        new = base_vocab + m
        all_ws[new] = all_ws[a] and all_ws[b]
        clean[new] = clean[a] and no_ws[b]
        no_ws[new] = no_ws[a] and no_ws[b]
        gone = np.int64(0)
        touched.clear()
        for u in range(n_units):
            s = ustart[u]
            n = ulen[u]
            first = -1
            for i in range(n - 1):
                if toks[s + i] == a and toks[s + i + 1] == b:
                    first = i
                    break
            if first < 0:
                continue
            w = weight[u]
            # Rewrite left to right; adjust only the pairs around each merged occurrence. A previous merge in
            # this unit has already been written at out[j - 1], so (new, a) pairs it created are undone here.
            i = first
            j = first
            while i < n:
                if i < n - 1 and toks[s + i] == a and toks[s + i + 1] == b:
                    _add(counts, touched, a, b, -w, key_mul, all_ws, clean, no_ws)
                    if j > 0:
                        x = toks[s + j - 1]
                        _add(counts, touched, x, a, -w, key_mul, all_ws, clean, no_ws)
                        _add(counts, touched, x, new, w, key_mul, all_ws, clean, no_ws)
                    if i + 2 < n:
                        y = toks[s + i + 2]
                        _add(counts, touched, b, y, -w, key_mul, all_ws, clean, no_ws)
                        _add(counts, touched, new, y, w, key_mul, all_ws, clean, no_ws)
                    toks[s + j] = new
                    i += 2
                else:
                    toks[s + j] = toks[s + i]
                    i += 1
                j += 1
            ulen[u] = j
            gone += (n - j) * w
        for k in touched.keys():
            c = counts[k]
            if c > 0:
                heapq.heappush(heap, (-c, k // key_mul, k % key_mul))
        left[m] = a
        right[m] = b
        merge_count[m] = best
        removed[m] = gone
        m += 1
    return left[:m], right[:m], merge_count[:m], removed[:m]


@njit(cache=True)
def expand_merges(left: np.ndarray, right: np.ndarray, base_vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-id decomposition of every new id: (flat base ids, int32 offsets [merges + 1]), in id order."""
    m = len(left)
    length = np.empty(m, np.int64)
    for k in range(m):
        a = left[k]
        b = right[k]
        length[k] = (length[a - base_vocab] if a >= base_vocab else 1) + (length[b - base_vocab] if b >= base_vocab else 1)
    offsets = np.zeros(m + 1, np.int32)
    for k in range(m):
        offsets[k + 1] = offsets[k] + length[k]
    flat = np.empty(offsets[m], np.int32)
    for k in range(m):
        j = offsets[k]
        for part in (left[k], right[k]):
            if part >= base_vocab:
                src = offsets[part - base_vocab]
                n = offsets[part - base_vocab + 1] - src
                flat[j : j + n] = flat[src : src + n]
                j += n
            else:
                flat[j] = part
                j += 1
    return flat, offsets
