"""Numba kernels for one shard of the corpus: initial pair counts, applying a merge, compacting the position pool.

Data layout (why: ~6-8 bytes per base for DNA, no per-sequence objects, O(1) neighbour lookups):

* ``tok``: one flat token array (int16 while the vocabulary fits, else int32) for all sequences, one ``SEP``
  between sequences and at both ends, so a pair never crosses a sequence boundary. A symbol spanning
  positions ``[s, e)`` stores its id at ``s`` *and* at ``e - 1`` (interior positions hold ``INTERIOR``): the
  right neighbour starts at ``e = s + tlen[id]`` and the left neighbour's id is ``tok[s - 1]``, so no
  prev/next arrays are needed.
* ``pool``: positions (left symbol start) of pair occurrences, grouped in *blocks*; each pair slot has a linked
  list of blocks (``head`` -> ``bnext``). A merge step appends one block per new pair. Entries are never
  removed eagerly; an entry is checked when read (``tok[p] == a and tok[p + tlen[a]] == b``) and stale ones
  are dropped when the pool is compacted.
* Weights: sequences are sorted by count, so count runs are found by a binary search on ``wpos``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from operators.bpe._table import EMPTY, NBLOCKS, NSLOTS, POOLN, find_or_add_slot, find_slot, reindex

SEP = -2
INTERIOR = -1

# apply_merge status codes: which array needs to grow before the step can run.
NEED_POOL = -1
NEED_SLOTS = -2
NEED_BLOCKS = -3


@njit(cache=True)
def count_initial(tok, wpos, wval, max_pair_len_ok):
    """Count the adjacent pairs of a fresh ``tok`` (single characters), weighted.

    Returns ``(hkeys, hvals, sa, sb, cnt, nent, nslots)``; ``nent[s]`` is the number of occurrences of slot ``s``
    (its position-list length). The table grows here as needed, so any alphabet size works.
    """
    cap = 64
    hkeys = np.full(2 * cap, EMPTY, np.int64)
    hvals = np.empty(2 * cap, np.int32)
    sa = np.empty(cap, np.int32)
    sb = np.empty(cap, np.int32)
    cnt = np.zeros(cap, np.int64)
    nent = np.zeros(cap, np.int64)
    head = np.empty(cap, np.int32)
    meta = np.zeros(4, np.int64)
    nruns = wval.shape[0]
    for r in range(nruns):
        lo = wpos[r]
        hi = wpos[r + 1] if r + 1 < nruns else tok.shape[0] - 1
        w = wval[r]
        if not max_pair_len_ok:
            continue
        for i in range(lo, hi):
            x = tok[i]
            y = tok[i + 1]
            if x < 0 or y < 0:
                continue
            if meta[NSLOTS] + 1 > cap:  # grow slots and re-index (amortized doubling)
                cap *= 2
                sa = _grow(sa, cap)
                sb = _grow(sb, cap)
                cnt = _grow(cnt, cap)
                nent = _grow(nent, cap)
                head = _grow(head, cap)
                hkeys = np.full(2 * cap, EMPTY, np.int64)
                hvals = np.empty(2 * cap, np.int32)
                reindex(hkeys, hvals, sa, sb, meta[NSLOTS])
            s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, x, y)
            cnt[s] += w
            nent[s] += 1
    return hkeys, hvals, sa, sb, cnt, nent, meta[NSLOTS]


@njit(cache=True)
def _grow(arr, n):
    out = np.zeros(n, arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True)
def fill_initial_positions(tok, hkeys, hvals, nent, nslots, pool, bstart, blen, bnext, bslot, head):
    """Write every initial pair position into ``pool``, one block per slot (block id = slot id)."""
    off = 0
    for s in range(nslots):
        bstart[s] = off
        blen[s] = 0
        bnext[s] = -1
        bslot[s] = s
        head[s] = s
        off += nent[s]
    for i in range(1, tok.shape[0] - 1):
        x = tok[i]
        y = tok[i + 1]
        if x < 0 or y < 0:
            continue
        s = find_slot(hkeys, hvals, x, y)
        if s >= 0:
            pool[bstart[s] + blen[s]] = i
            blen[s] += 1
    return off


@njit(cache=True)
def compact(tok, tlen, sa, sb, cnt, head, meta, pool, bstart, blen, bnext, bslot):
    """Drop stale entries and dead blocks (pairs with count <= 0) from the pool, in place, keeping block order."""
    nb = meta[NBLOCKS]
    newid = np.empty(nb, np.int32)
    w = 0
    nk = 0
    for k in range(nb):
        s = bslot[k]
        w0 = w
        if cnt[s] > 0:
            a = sa[s]
            b = sb[s]
            la = tlen[a]
            for e in range(bstart[k], bstart[k] + blen[k]):
                p = pool[e]
                if tok[p] == a and tok[p + la] == b:
                    pool[w] = p
                    w += 1
        if w > w0:
            newid[k] = nk
            bstart[k] = w0
            blen[k] = w - w0
            nk += 1
        else:
            newid[k] = -1
    # Relink around emptied blocks: bnext of emptied blocks is left untouched, so later walks still work.
    for k in range(nb):
        if newid[k] >= 0:
            n = bnext[k]
            while n >= 0 and newid[n] < 0:
                n = bnext[n]
            bnext[k] = newid[n] if n >= 0 else -1
    for s in range(meta[NSLOTS]):
        h = head[s]
        while h >= 0 and newid[h] < 0:
            h = bnext[h]
        head[s] = newid[h] if h >= 0 else -1
    for k in range(nb):  # newid[k] <= k, so moving forward in place is safe
        j = newid[k]
        if j >= 0:
            bstart[j] = bstart[k]
            blen[j] = blen[k]
            bnext[j] = bnext[k]
            bslot[j] = bslot[k]
    meta[NBLOCKS] = nk
    meta[POOLN] = w


@njit(cache=True)
def apply_merge(tok, tlen, wpos, wval, hkeys, hvals, sa, sb, cnt, head, meta,
                pool, bstart, blen, bnext, bslot, scratch, out_keys, out_deltas, pushed,
                a, b, new, is_dup, maxlen):
    """Merge every occurrence of (a, b) into ``new``; update local counts and positions.

    Returns ``(status, n_out, n_pushed, merged_weight)``: ``status`` < 0 asks the caller to grow an array and
    call again (nothing was changed); ``out_keys/out_deltas[:n_out]`` are the count changes (for a coordinator);
    ``pushed[:n_pushed]`` the slots whose count grew (for the heap). Only pairs next to a merged occurrence are
    touched, so a step costs O(occurrences), not O(corpus).
    """
    V = (scratch.shape[1] - 1) // 2
    s_ab = find_slot(hkeys, hvals, a, b)
    if s_ab < 0 or cnt[s_ab] <= 0:
        return 0, 0, 0, 0
    total = 0
    k = head[s_ab]
    while k >= 0:
        total += blen[k]
        k = bnext[k]
    if meta[POOLN] + 2 * total > pool.shape[0]:
        compact(tok, tlen, sa, sb, cnt, head, meta, pool, bstart, blen, bnext, bslot)
        total = 0
        k = head[s_ab]
        while k >= 0:
            total += blen[k]
            k = bnext[k]
        if meta[POOLN] + 2 * total > pool.shape[0]:
            return NEED_POOL, meta[POOLN] + 2 * total, 0, 0
    if meta[NSLOTS] + 2 * V + 1 > sa.shape[0] or 2 * (meta[NSLOTS] + 2 * V + 1) > hkeys.shape[0]:
        return NEED_SLOTS, meta[NSLOTS] + 2 * V + 1, 0, 0
    if meta[NBLOCKS] + 2 * V + 2 > bstart.shape[0]:
        return NEED_BLOCKS, meta[NBLOCKS] + 2 * V + 2, 0, 0

    # scratch rows: 0 dl_old (x, a)  1 dl_new (x, new)  2 dr_old (b, y)  3 dr_new (new, y)
    #               4 touched flags  5 left list  6 right list  7 lslot  8 rslot  9 bin sizes (2V + 1 wide)
    dl_old = scratch[0]
    dl_new = scratch[1]
    dr_old = scratch[2]
    dr_new = scratch[3]
    mark = scratch[4]
    tl = scratch[5]
    tr = scratch[6]
    lslot = scratch[7]
    rslot = scratch[8]
    binn = scratch[9]
    la = tlen[a]
    lb = tlen[b]
    ln = la + lb
    tlen[new] = ln
    single_w = wval.shape[0] == 1
    w0 = wval[0]
    created = np.empty(total, pool.dtype)
    nc = 0
    ntl = 0
    ntr = 0
    merged = 0
    k = head[s_ab]
    while k >= 0:
        for e in range(bstart[k], bstart[k] + blen[k]):
            s = pool[e]
            if tok[s] != a or tok[s + la] != b:
                continue  # stale entry
            if a == b:
                # Merge a run of a's left to right from its start (AAA -> AA A), like the reference.
                while tok[s - 1] == a:
                    s -= la
            while True:
                w = w0 if single_w else wval[np.searchsorted(wpos, s, "right") - 1]
                t = s + la
                end = t + lb
                x = tok[s - 1]
                if x >= 0:
                    if mark[x] & 1 == 0:
                        mark[x] |= 1
                        tl[ntl] = x
                        ntl += 1
                    dl_old[x] -= w
                    dl_new[x] += w
                y = tok[end]
                if y >= 0:
                    if mark[y] & 2 == 0:
                        mark[y] |= 2
                        tr[ntr] = y
                        ntr += 1
                    dr_old[y] -= w
                    dr_new[y] += w
                tok[t - 1] = INTERIOR
                tok[t] = INTERIOR
                tok[s] = new
                tok[end - 1] = new
                created[nc] = s
                nc += 1
                merged += w
                if a != b:
                    break
                s = end
                if tok[s] != a or tok[s + la] != a:
                    break
        k = bnext[k]

    # Counts: increments first (they create the new pairs' slots), then decrements.
    n_out = 0
    n_pushed = 0
    for i in range(ntl):
        x = tl[i]
        lslot[x] = -1
        d = dl_new[x]
        if d != 0 and (maxlen <= 0 or tlen[x] + ln <= maxlen):
            s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, x, new)
            cnt[s] += d
            lslot[x] = s
            out_keys[n_out] = (np.int64(x) << 32) | new
            out_deltas[n_out] = d
            n_out += 1
            pushed[n_pushed] = s
            n_pushed += 1
    for i in range(ntr):
        y = tr[i]
        rslot[y] = -1
        d = dr_new[y]
        if d != 0 and (maxlen <= 0 or ln + tlen[y] <= maxlen):
            s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, new, y)
            cnt[s] += d
            rslot[y] = s
            out_keys[n_out] = (np.int64(new) << 32) | y
            out_deltas[n_out] = d
            n_out += 1
            pushed[n_pushed] = s
            n_pushed += 1
    for i in range(ntl):
        x = tl[i]
        d = dl_old[x]
        s = find_slot(hkeys, hvals, x, a) if d != 0 else -1
        if s >= 0:
            cnt[s] += d
            out_keys[n_out] = (np.int64(x) << 32) | a
            out_deltas[n_out] = d
            n_out += 1
    for i in range(ntr):
        y = tr[i]
        d = dr_old[y]
        s = find_slot(hkeys, hvals, b, y) if d != 0 else -1
        if s >= 0:
            cnt[s] += d
            out_keys[n_out] = (np.int64(b) << 32) | y
            out_deltas[n_out] = d
            n_out += 1
    cnt[s_ab] = 0

    _record_positions(tok, tlen, meta, pool, bstart, blen, bnext, bslot, head, hkeys, hvals,
                      created, nc, tl, ntl, tr, ntr, lslot, rslot, binn, new, ln, is_dup, V)
    for i in range(ntl):
        x = tl[i]
        dl_old[x] = 0
        dl_new[x] = 0
        mark[x] = 0
    for i in range(ntr):
        y = tr[i]
        dr_old[y] = 0
        dr_new[y] = 0
        mark[y] = 0
    return 0, n_out, n_pushed, merged


@njit(cache=True)
def _record_positions(tok, tlen, meta, pool, bstart, blen, bnext, bslot, head, hkeys, hvals,
                      created, nc, tl, ntl, tr, ntr, lslot, rslot, binn, new, ln, is_dup, V):
    """Append one pool block per new pair, holding the positions of its occurrences after this step.

    Bins: left neighbour x -> x, right neighbour y -> V + y, (new, new) -> 2V. A (new, new) pair is recorded
    once, as the right pair of its left symbol — unless ``new`` existed before this step (a re-created string),
    when its left pair may be an old symbol and both sides are recorded (duplicates are harmless: the second
    visit finds the entry stale).
    """
    nn_slot = find_slot(hkeys, hvals, new, new)
    for i in range(nc):
        s = created[i]
        x = tok[s - 1]
        if x >= 0 and (x != new or is_dup):
            if x == new:
                if nn_slot >= 0:
                    binn[2 * V] += 1
            elif lslot[x] >= 0:
                binn[x] += 1
        y = tok[s + ln]
        if y >= 0:
            if y == new:
                if nn_slot >= 0:
                    binn[2 * V] += 1
            elif rslot[y] >= 0:
                binn[V + y] += 1
    off = meta[POOLN]
    for j in range(ntl + ntr + 1):
        if j < ntl:
            bn = tl[j]
            slot = lslot[bn] if bn != new else -1
        elif j < ntl + ntr:
            bn = V + tr[j - ntl]
            slot = rslot[tr[j - ntl]] if tr[j - ntl] != new else -1
        else:
            bn = 2 * V
            slot = nn_slot
        size = binn[bn]
        if size == 0 or slot < 0:
            binn[bn] = 0
            continue
        kb = meta[NBLOCKS]
        meta[NBLOCKS] = kb + 1
        bstart[kb] = off
        blen[kb] = size
        bslot[kb] = slot
        bnext[kb] = head[slot]
        head[slot] = kb
        binn[bn] = off  # from here on: the write cursor of this bin
        off += size
    for i in range(nc):
        s = created[i]
        x = tok[s - 1]
        if x >= 0 and (x != new or is_dup):
            if x == new:
                if nn_slot >= 0:
                    pool[binn[2 * V]] = s - ln
                    binn[2 * V] += 1
            elif lslot[x] >= 0:
                pool[binn[x]] = s - tlen[x]
                binn[x] += 1
        y = tok[s + ln]
        if y >= 0:
            if y == new:
                if nn_slot >= 0:
                    pool[binn[2 * V]] = s
                    binn[2 * V] += 1
            elif rslot[y] >= 0:
                pool[binn[V + y]] = s
                binn[V + y] += 1
    meta[POOLN] = off
    for j in range(ntl):
        binn[tl[j]] = 0
    for j in range(ntr):
        binn[V + tr[j]] = 0
    binn[2 * V] = 0
