"""The numba kernel of dynamic BPE: greedy pair merging over the *distinct* units of a batch.

Units that hold the same base token sequence evolve identically (merges never cross units), so the kernel works
on each distinct unit once, weighted by how often it occurs. The tokens form one linked list per unit. Every
valid adjacent pair gets an id, a count and a chain of the positions where it occurs (stale entries are skipped
when read), and every position remembers the id of the pair that starts there. A lazy heap of packed int64 keys
(count, left, right; see :func:`_heap_key`) gives the most frequent pair, ties going to the smallest left id, then
the smallest right id. Merging a pair visits only its positions, in ascending order, so each unit is rewritten left to right
(non-overlapping, as ``a a a`` -> ``aa a``) and only the pairs next to each merged occurrence change count:
a merge costs O(its occurrences), whatever the unit lengths.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EMPTY = np.int64(-1)
# Indices into the tuple of pair-state arrays passed around inside the kernel.
_KEYS, _VALS, _LEFT, _RIGHT, _COUNT, _HEAD, _ENTRY_POS, _ENTRY_NEXT, _POS_PAIR, _STATE = range(10)


@njit(cache=True, inline="always")
def _valid(x: int, y: int, flags) -> bool:
    # Whitespace rule: the merged surface is all whitespace, or whitespace is at most its first character.
    all_ws, clean, no_ws = flags
    return (all_ws[x] and all_ws[y]) or (clean[x] and no_ws[y])


@njit(cache=True, inline="always")
def _get_or_add(keys: np.ndarray, vals: np.ndarray, key: int, new_val: int) -> int:
    """Open-addressing hash map (linear probing, keys >= 0): the value of ``key``, inserting ``new_val``."""
    mask = len(keys) - 1
    h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)
    i = np.int64(h & np.uint64(mask))
    while True:
        k = keys[i]
        if k == key:
            return vals[i]
        if k == _EMPTY:
            keys[i] = key
            vals[i] = new_val
            return new_val
        i = (i + 1) & mask


@njit(cache=True, inline="always")
def _record(pairs, pos: int, x: int, y: int, w: int, key_mul: int, flags) -> int:
    """Pair (x, y) now starts at ``pos`` with weight ``w``: count it and chain the position; -1 if not valid."""
    pos_pair, state = pairs[_POS_PAIR], pairs[_STATE]
    if not _valid(x, y, flags):
        pos_pair[pos] = -1
        return -1
    n_pairs = state[0]
    pid = _get_or_add(pairs[_KEYS], pairs[_VALS], np.int64(x) * key_mul + y, n_pairs)
    if pid == n_pairs:
        pairs[_LEFT][pid] = x
        pairs[_RIGHT][pid] = y
        state[0] = n_pairs + 1
    pairs[_COUNT][pid] += w
    e = state[1]
    pairs[_ENTRY_POS][e] = pos
    pairs[_ENTRY_NEXT][e] = pairs[_HEAD][pid]
    pairs[_HEAD][pid] = e
    state[1] = e + 1
    pos_pair[pos] = pid
    return pid


@njit(cache=True, inline="always")
def _heap_key(count: int, x: int, y: int, id_bits: int, count_max: int) -> int:
    """One int64 ordering pairs as the tuple (-count, x, y): smaller key = more frequent, then smaller ids."""
    return ((count_max - count) << (2 * id_bits)) | (np.int64(x) << id_bits) | y


@njit(cache=True)
def _heap_push(keys: np.ndarray, vals: np.ndarray, n: int, key: int, val: int):
    """Push onto the binary min-heap ``keys[:n]`` (payload ``vals``); returns the arrays (grown if full)."""
    if n == len(keys):
        keys2 = np.empty(2 * n + 16, np.int64)
        vals2 = np.empty(2 * n + 16, np.int64)
        keys2[:n] = keys[:n]
        vals2[:n] = vals[:n]
        keys, vals = keys2, vals2
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return keys, vals


@njit(cache=True)
def _heap_sift_down(keys: np.ndarray, vals: np.ndarray, n: int, i: int) -> None:
    key, val = keys[i], vals[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    keys[i] = key
    vals[i] = val


@njit(cache=True)
def unique_units(toks: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """Distinct token sequences among the units ``toks[starts[u]:ends[u]]``, numbered by first occurrence.

    Returns:
        (uid int64 [units]: the number of each unit's sequence, first int64 [distinct]: a unit holding each
        sequence, its first occurrence).
    """
    n = len(starts)
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    table = np.full(size, -1, np.int64)  # slot -> distinct number
    first = np.empty(n, np.int64)
    hashes = np.empty(n, np.uint64)
    uid = np.empty(n, np.int64)
    n_distinct = 0
    for u in range(n):
        h = np.uint64(1469598103934665603)
        for i in range(starts[u], ends[u]):
            h = (h ^ np.uint64(toks[i])) * np.uint64(1099511628211)
        h ^= np.uint64(ends[u] - starts[u])
        slot = np.int64((h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
        while True:
            d = table[slot]
            if d < 0:
                table[slot] = n_distinct
                first[n_distinct] = u
                hashes[n_distinct] = h
                uid[u] = n_distinct
                n_distinct += 1
                break
            if hashes[d] == h:
                v = first[d]
                length = ends[u] - starts[u]
                same = ends[v] - starts[v] == length
                if same:
                    for k in range(length):
                        if toks[starts[u] + k] != toks[starts[v] + k]:
                            same = False
                            break
                if same:
                    uid[u] = d
                    break
            slot = (slot + 1) & mask
    return uid, first[:n_distinct].copy()


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
            On return each unit's merged tokens are compacted to the front of its slot and ``ulen`` updated.
        ustart, ulen, weight: int64 per distinct unit: start, length, number of occurrences.
        all_ws, clean, no_ws: bool per id (sized ``base_vocab + max_merges``): surface is all whitespace / has
            whitespace at most at its first character / has no whitespace; filled in for new ids here.
        base_vocab: first new id.
        max_merges: merge budget (the caller caps it at the number of tokens that can disappear).
        min_count: stop when the best pair occurs fewer times than this.

    Returns:
        (left, right, merge_count, removed): per merge, the pair, its count and by how many tokens it shortened
        the batch.
    """
    flags = (all_ws, clean, no_ws)
    n_tok = len(toks)
    key_mul = np.int64(base_vocab + max_merges + 1)
    nxt = np.full(n_tok, -1, np.int64)
    prv = np.full(n_tok, -1, np.int64)
    wpos = np.zeros(n_tok, np.int64)
    for u in range(len(ustart)):
        s = ustart[u]
        for i in range(ulen[u]):
            wpos[s + i] = weight[u]
            if i + 1 < ulen[u]:
                nxt[s + i] = s + i + 1
            if i > 0:
                prv[s + i] = s + i - 1
    # Pairs ever seen <= initial pairs + 2 per merged occurrence <= 3 * n_tok; same bound for chain entries.
    cap = 3 * n_tok + 1
    size = 1
    while size < 4 * cap // 3 + 1:  # load factor <= 3/4 even if every possible pair appears
        size *= 2
    pairs = (
        np.full(size, _EMPTY, np.int64),  # hash keys: left * key_mul + right
        np.empty(size, np.int64),  # hash values: pair id
        np.empty(cap, np.int64),  # left id of each pair
        np.empty(cap, np.int64),  # right id
        np.zeros(cap, np.int64),  # count
        np.full(cap, -1, np.int64),  # head of its position chain
        np.empty(cap, np.int64),  # chain entry: position
        np.empty(cap, np.int64),  # chain entry: next entry
        np.full(n_tok, -1, np.int64),  # id of the valid pair starting at each position, or -1
        np.zeros(2, np.int64),  # [number of pairs, number of chain entries]
    )
    count, pair_left, pair_right = pairs[_COUNT], pairs[_LEFT], pairs[_RIGHT]
    head, entry_pos, entry_next, pos_pair = pairs[_HEAD], pairs[_ENTRY_POS], pairs[_ENTRY_NEXT], pairs[_POS_PAIR]
    for p in range(n_tok):
        if nxt[p] >= 0:
            _record(pairs, p, toks[p], toks[nxt[p]], wpos[p], key_mul, flags)
    id_bits = 1
    while (np.int64(1) << id_bits) <= base_vocab + max_merges:
        id_bits += 1
    count_max = (np.int64(1) << (63 - 2 * id_bits)) - 1  # the caller checks that counts stay below this
    n_heap = pairs[_STATE][0]
    heap_keys = np.empty(n_heap + 16, np.int64)
    heap_vals = np.empty(n_heap + 16, np.int64)
    for pid in range(n_heap):
        heap_keys[pid] = _heap_key(count[pid], pair_left[pid], pair_right[pid], id_bits, count_max)
        heap_vals[pid] = pid
    for i in range(n_heap // 2 - 1, -1, -1):
        _heap_sift_down(heap_keys, heap_vals, n_heap, i)

    left = np.empty(max_merges, np.int32)
    right = np.empty(max_merges, np.int32)
    merge_count = np.empty(max_merges, np.int64)
    removed = np.empty(max_merges, np.int64)
    touched = np.empty(16, np.int64)  # pair ids whose count changed during one merge (with repeats)
    m = 0
    while m < max_merges:
        ab = np.int64(-1)
        while n_heap > 0:
            key, pid = heap_keys[0], heap_vals[0]
            n_heap -= 1
            if n_heap > 0:
                heap_keys[0] = heap_keys[n_heap]
                heap_vals[0] = heap_vals[n_heap]
                _heap_sift_down(heap_keys, heap_vals, n_heap, 0)
            c = count_max - (key >> (2 * id_bits))
            if count[pid] == c and c > 0:
                ab = pid
                break
        if ab < 0 or count[ab] < min_count:
            break
        a, b, best = pair_left[ab], pair_right[ab], count[ab]
        new = base_vocab + m
        all_ws[new] = all_ws[a] and all_ws[b]
        clean[new] = clean[a] and no_ws[b]
        no_ws[new] = no_ws[a] and no_ws[b]
        # Positions of (a, b), ascending: left to right within every unit.
        n_pos = 0
        e = head[ab]
        while e >= 0:
            n_pos += 1
            e = entry_next[e]
        positions = np.empty(n_pos, np.int64)
        e = head[ab]
        for i in range(n_pos):
            positions[i] = entry_pos[e]
            e = entry_next[e]
        positions.sort()
        head[ab] = -1
        if len(touched) < 4 * n_pos:  # up to 4 changed pairs per occurrence
            touched = np.empty(8 * n_pos, np.int64)
        n_touched = 0
        gone = np.int64(0)
        for i in range(n_pos):
            p = positions[i]
            if pos_pair[p] != ab:
                continue  # stale entry: merged away or changed since it was recorded
            q = nxt[p]
            w = wpos[p]
            x = prv[p]
            y = nxt[q]
            count[ab] -= w
            if x >= 0:  # (x, a) becomes (x, new)
                old = pos_pair[x]
                if old >= 0:
                    count[old] -= w
                    touched[n_touched] = old
                    n_touched += 1
                pid = _record(pairs, x, toks[x], new, w, key_mul, flags)
                if pid >= 0:
                    touched[n_touched] = pid
                    n_touched += 1
            old = pos_pair[q]
            if old >= 0:  # (b, y) becomes (new, y)
                count[old] -= w
                touched[n_touched] = old
                n_touched += 1
            pos_pair[q] = -1
            pos_pair[p] = -1
            toks[p] = new
            nxt[p] = y
            if y >= 0:
                prv[y] = p
                pid = _record(pairs, p, new, toks[y], w, key_mul, flags)
                if pid >= 0:
                    touched[n_touched] = pid
                    n_touched += 1
            gone += w
        changed = np.sort(touched[:n_touched])
        for t in range(n_touched):
            pid = changed[t]
            if (t == 0 or pid != changed[t - 1]) and count[pid] > 0:
                key = _heap_key(count[pid], pair_left[pid], pair_right[pid], id_bits, count_max)
                heap_keys, heap_vals = _heap_push(heap_keys, heap_vals, n_heap, key, pid)
                n_heap += 1
        left[m] = a
        right[m] = b
        merge_count[m] = best
        removed[m] = gone
        m += 1

    for u in range(len(ustart)):
        s = ustart[u]
        p = s
        j = 0
        while p >= 0:
            toks[s + j] = toks[p]
            j += 1
            p = nxt[p]
        ulen[u] = j
    return left[:m], right[:m], merge_count[:m], removed[:m]


@njit(cache=True)
def expand_merges(left: np.ndarray, right: np.ndarray, base_vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-id decomposition of every new id: (flat base ids, int32 offsets [merges + 1]), in id order."""
    m = len(left)
    offsets = np.zeros(m + 1, np.int32)
    for k in range(m):
        n = 0
        for part in (left[k], right[k]):
            n += offsets[part - base_vocab + 1] - offsets[part - base_vocab] if part >= base_vocab else 1
        offsets[k + 1] = offsets[k] + n
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
