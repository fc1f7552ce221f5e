"""The numba kernel of dynamic BPE: one call per batch groups the merge units, merges, and lays out the rows.

Units that hold the same base token sequence evolve identically (merges never cross units), so the kernel works
on each distinct unit once, weighted by how often it occurs. The tokens of the distinct units form one linked
list per unit. Every valid adjacent pair gets an id, a count and a chain of the positions where it occurs (stale
entries are skipped when read), and every position remembers the id of the pair that starts there. A lazy heap of
packed int64 keys (count, left, right; see :func:`_heap_key`) gives the most frequent pair, ties going to the
smallest left id, then the smallest right id. Merging a pair visits only its positions, in ascending order, so
each unit is rewritten left to right (non-overlapping, as ``a a a`` -> ``aa a``) and only the pairs next to each
merged occurrence change count: a merge costs O(its occurrences), whatever the unit lengths.

Every array passed to a numba helper costs reference counting on each call, so the per-pair bookkeeping is
written out in the kernel (a helper taking the ten state arrays made the kernel five times slower) and only the
hash probe and the heap are helpers. Grouping, merging and the output layout share one call per batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier


@njit(cache=True)
def _slot(key: int | np.int64, mask: int) -> np.int64:
    return np.int64(((np.uint64(key) * _GOLDEN) >> np.uint64(24)) & np.uint64(mask))


@njit(cache=True)
def _heap_key(count: int, x: int, y: int, id_bits: int, count_max: int | np.int64) -> np.int64:
    """One int64 ordering pairs as the tuple (-count, x, y): smaller key = more frequent, then smaller ids."""
    return ((count_max - count) << (2 * id_bits)) | (np.int64(x) << id_bits) | y


@njit(cache=True, inline="always")
def _heap_sift_up(keys: np.ndarray, vals: np.ndarray, top: int, i: int, key: int | np.int64, val: int) -> None:
    """Put (key, val) into the hole at ``i`` of the binary min-heap ``keys`` (payload ``vals``), moving the greater
    ancestors below ``top`` down one level."""
    while i > top:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val


@njit(cache=True)
def _heap_push(keys: np.ndarray, vals: np.ndarray, n: int, key: int | np.int64, val: int) -> None:
    """Push onto the binary min-heap ``keys[:n]`` (payload ``vals``; the caller sized both for every push)."""
    _heap_sift_up(keys, vals, 0, n, key, val)


@njit(cache=True)
def _heap_sift_down(keys: np.ndarray, vals: np.ndarray, n: int, i: int) -> None:
    """Move entry ``i`` of ``keys[:n]`` down to its place: its hole goes down to a leaf along the smaller children,
    then the entry goes up from there (as CPython's heapq does). Equal keys are the same pair's identical entries,
    so the heap ends as a plain sift-down leaves it."""
    key, val = keys[i], vals[i]
    top = i
    child = 2 * i + 1
    while child < n:
        if child + 1 < n and keys[child + 1] < keys[child]:
            child += 1
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
        child = 2 * i + 1
    _heap_sift_up(keys, vals, top, i, key, val)


@njit(cache=True)
def distinct_units(ids: np.ndarray, starts: np.ndarray):
    """Group the units of a batch (a unit starts wherever ``starts`` is True) by their token sequence.

    Returns:
        (unit_start int64 [units + 1]: token index where each unit starts, then N; uid int64 [units]: the number
        of each unit's sequence, numbered by first occurrence; first int64 [distinct]: the unit of each sequence's
        first occurrence).
    """
    n = len(ids)
    n_units = 0
    for i in range(n):
        n_units += starts[i]
    unit_start = np.empty(n_units + 1, np.int64)
    u = 0
    for i in range(n):
        if starts[i]:
            unit_start[u] = i
            u += 1
    unit_start[n_units] = n
    size = 16
    while size < 2 * n_units:
        size *= 2
    mask = size - 1
    table = np.full(size, -1, np.int64)  # slot -> distinct number
    first = np.empty(n_units, np.int64)
    hashes = np.empty(n_units, np.uint64)
    uid = np.empty(n_units, np.int64)
    n_distinct = 0
    for u in range(n_units):
        lo, hi = unit_start[u], unit_start[u + 1]
        h = np.uint64(1469598103934665603)  # FNV-1a over the ids, then the length
        for i in range(lo, hi):
            h = (h ^ np.uint64(ids[i])) * np.uint64(1099511628211)
        h ^= np.uint64(hi - lo)
        slot = _slot(np.int64(h >> np.uint64(1)), mask)
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
                same = unit_start[v + 1] - unit_start[v] == hi - lo
                if same:
                    off = unit_start[v] - lo
                    for i in range(lo, hi):
                        if ids[i] != ids[i + off]:
                            same = False
                            break
                if same:
                    uid[u] = d
                    break
            slot = (slot + 1) & mask
    return unit_start, uid, first[:n_distinct].copy()


@njit(cache=True)
def _pair_id(hash_keys: np.ndarray, hash_vals: np.ndarray, key: int, new_id: int) -> int:
    """Open-addressing hash map (linear probing, keys >= 0): the value of ``key``, inserting ``new_id``."""
    mask = len(hash_keys) - 1
    i = _slot(key, mask)
    while True:
        k = hash_keys[i]
        if k == key:
            return hash_vals[i]
        if k < 0:
            hash_keys[i] = key
            hash_vals[i] = new_id
            return new_id
        i = (i + 1) & mask


@njit(cache=True)
def merge_batch(
    ids: np.ndarray,
    row_splits: np.ndarray,
    starts: np.ndarray,
    all_ws: np.ndarray,
    clean: np.ndarray,
    no_ws: np.ndarray,
    base_vocab: int,
    max_merges: int,
    min_count: int,
):
    """Dynamic BPE on one encoded batch: merge the most frequent valid pair up to ``max_merges`` times.

    Args:
        ids: int32 [N] base ids of all rows, concatenated.
        row_splits: int64 [rows + 1] start of each row in ``ids``.
        starts: bool [N] True where a merge unit starts (at least at every non-empty row's first token).
        all_ws, clean, no_ws: bool per id, sized ``base_vocab + max_merges``: its surface is all whitespace / has
            whitespace at most at its first character / has no whitespace (the whitespace rule, see
            ``dynamic_bpe``). The entries of new ids are written here as they are made (whatever they held before
            is never read, so the caller may reuse the arrays from batch to batch).
        base_vocab: first new id.
        max_merges: merge budget (the caller caps it at the number of tokens that can disappear).
        min_count: stop when the best pair occurs fewer times than this.

    Returns:
        (dynamic_ids int32 [M], dynamic row_splits int64 [rows + 1], and per merge: left int32, right int32,
        merge_count int64, removed int64 (how many tokens it took off the batch)).
    """
    unit_start, uid, first = distinct_units(ids, starts)
    n_distinct = len(first)
    # The distinct units' tokens one after the other, each with its unit's weight, linked within the unit.
    ustart = np.empty(n_distinct, np.int64)
    ulen = np.empty(n_distinct, np.int64)
    n_tok = 0
    for d in range(n_distinct):
        u = first[d]
        ustart[d] = n_tok
        ulen[d] = unit_start[u + 1] - unit_start[u]
        n_tok += ulen[d]
    weight = np.zeros(n_distinct, np.int64)
    for u in range(len(uid)):
        weight[uid[u]] += 1
    toks = np.empty(n_tok, np.int32)
    # Positions and ids fit in int32 (a batch is far below 2**31 tokens); half the memory, fewer cache misses.
    nxt = np.full(n_tok, -1, np.int32)
    prv = np.full(n_tok, -1, np.int32)
    wpos = np.empty(n_tok, np.int32)
    for d in range(n_distinct):
        src, s, n = unit_start[first[d]], ustart[d], ulen[d]
        for i in range(n):
            toks[s + i] = ids[src + i]
            wpos[s + i] = weight[d]
            if i + 1 < n:
                nxt[s + i] = s + i + 1
            if i > 0:
                prv[s + i] = s + i - 1

    # Pairs ever seen <= initial pairs + 2 per merged occurrence <= 3 * n_tok; same bound for chain entries.
    cap = 3 * n_tok + 1
    size = 1
    while size < 4 * cap // 3 + 1:  # load factor <= 3/4 even if every possible pair appears
        size *= 2
    hash_keys = np.full(size, -1, np.int64)  # left * key_mul + right
    hash_vals = np.empty(size, np.int32)  # pair id
    pair_left = np.empty(cap, np.int32)
    pair_right = np.empty(cap, np.int32)
    count = np.zeros(cap, np.int64)
    head = np.full(cap, -1, np.int32)  # first chain entry of each pair
    entry_pos = np.empty(cap, np.int32)
    entry_next = np.empty(cap, np.int32)
    pos_pair = np.full(n_tok, -1, np.int32)  # id of the valid pair starting at each position, or -1
    key_mul = np.int64(base_vocab + max_merges + 1)
    n_pairs = 0
    n_entries = 0
    for p in range(n_tok):
        q = nxt[p]
        if q < 0:
            continue
        x, y = toks[p], toks[q]
        if (all_ws[x] and all_ws[y]) or (clean[x] and no_ws[y]):  # the whitespace rule
            pid = _pair_id(hash_keys, hash_vals, np.int64(x) * key_mul + y, n_pairs)
            if pid == n_pairs:
                pair_left[pid], pair_right[pid] = x, y
                n_pairs += 1
            count[pid] += wpos[p]
            entry_pos[n_entries], entry_next[n_entries] = p, head[pid]
            head[pid] = n_entries
            n_entries += 1
            pos_pair[p] = pid

    id_bits = 1
    while (np.int64(1) << id_bits) <= base_vocab + max_merges:
        id_bits += 1
    count_max = (np.int64(1) << (63 - 2 * id_bits)) - 1  # the caller checks that counts stay below this
    # The heap holds an entry for every pair with a positive count, at that count or a higher one: a merge
    # pushes the pairs whose count grew (the new ones); one whose count fell is pushed again at its current
    # count only when its old entry comes to the top. So a fresh entry at the top is the most frequent pair.
    n_heap = n_pairs
    # Every pair starts in the heap; each merged occurrence pushes at most 2 more, and a re-push replaces a pop.
    heap_keys = np.empty(n_heap + 4 * n_tok + 16, np.int64)
    heap_vals = np.empty(n_heap + 4 * n_tok + 16, np.int32)
    for pid in range(n_heap):
        heap_keys[pid] = _heap_key(count[pid], pair_left[pid], pair_right[pid], id_bits, count_max)
        heap_vals[pid] = pid
    for i in range(n_heap // 2 - 1, -1, -1):
        _heap_sift_down(heap_keys, heap_vals, n_heap, i)

    left = np.empty(max_merges, np.int32)
    right = np.empty(max_merges, np.int32)
    merge_count = np.empty(max_merges, np.int64)
    removed = np.empty(max_merges, np.int64)
    positions = np.empty(16, np.int32)
    touched = np.empty(16, np.int32)  # pair ids whose count grew during one merge (with repeats)
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
            if 0 < count[pid] < c:  # its count fell since this entry was pushed: queue it at the current count
                _heap_push(heap_keys, heap_vals, n_heap, _heap_key(count[pid], pair_left[pid], pair_right[pid], id_bits, count_max), pid)
                n_heap += 1
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
            if n_pos == len(positions):
                grown = np.empty(2 * n_pos, np.int32)
                grown[:n_pos] = positions
                positions = grown
            positions[n_pos] = entry_pos[e]
            n_pos += 1
            e = entry_next[e]
        positions[:n_pos].sort()
        head[ab] = -1
        if len(touched) < 2 * n_pos:  # up to 2 new pairs per occurrence
            touched = np.empty(4 * n_pos, np.int32)
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
            if x >= 0 and pos_pair[x] >= 0:  # (x, a) becomes (x, new)
                count[pos_pair[x]] -= w
            if pos_pair[q] >= 0:  # (b, y) becomes (new, y)
                count[pos_pair[q]] -= w
            pos_pair[q] = -1
            toks[p] = new
            nxt[p] = y
            if y >= 0:
                prv[y] = p
            # Record the new pairs (x, new) and (new, y), in that order.
            for side in range(2):
                s0 = x if side == 0 else p
                if s0 < 0 or nxt[s0] < 0:
                    pos_pair[s0 if s0 >= 0 else p] = -1
                    continue
                tx, ty = toks[s0], toks[nxt[s0]]
                if not ((all_ws[tx] and all_ws[ty]) or (clean[tx] and no_ws[ty])):
                    pos_pair[s0] = -1
                    continue
                pid = _pair_id(hash_keys, hash_vals, np.int64(tx) * key_mul + ty, n_pairs)
                if pid == n_pairs:
                    pair_left[pid], pair_right[pid] = tx, ty
                    n_pairs += 1
                count[pid] += w
                entry_pos[n_entries], entry_next[n_entries] = s0, head[pid]
                head[pid] = n_entries
                n_entries += 1
                pos_pair[s0] = pid
                touched[n_touched] = pid
                n_touched += 1
            gone += w
        touched[:n_touched].sort()
        for t in range(n_touched):
            pid = touched[t]
            if (t == 0 or pid != touched[t - 1]) and count[pid] > 0:
                key = _heap_key(count[pid], pair_left[pid], pair_right[pid], id_bits, count_max)
                _heap_push(heap_keys, heap_vals, n_heap, key, pid)
                n_heap += 1
        left[m] = a
        right[m] = b
        merge_count[m] = best
        removed[m] = gone
        m += 1

    # Compact every distinct unit to the front of its slot, then spell the rows unit by unit.
    for d in range(n_distinct):
        s = ustart[d]
        p = s
        j = 0
        while p >= 0:
            toks[s + j] = toks[p]
            j += 1
            p = nxt[p]
        ulen[d] = j
    rows = len(row_splits) - 1
    out_splits = np.zeros(rows + 1, np.int64)
    total = 0
    u = 0
    for r in range(rows):
        while u < len(uid) and unit_start[u] < row_splits[r + 1]:
            total += ulen[uid[u]]
            u += 1
        out_splits[r + 1] = total
    out = np.empty(total, np.int32)
    j = 0
    for u in range(len(uid)):
        d = uid[u]
        s = ustart[d]
        for i in range(ulen[d]):
            out[j + i] = toks[s + i]
        j += ulen[d]
    return out, out_splits, left[:m], right[:m], merge_count[:m], removed[:m]


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
