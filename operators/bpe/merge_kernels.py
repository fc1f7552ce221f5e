"""Numba kernels that apply a merge to one part of the corpus and compact its position pool.

Data layout (why: a few bytes per base for DNA, no per-sequence objects, O(1) neighbour lookups):

* ``tok``: one flat token array (int16 while the vocabulary fits, else int32) for all sequences, one ``SEP``
  between sequences and at both ends, so a pair never crosses a sequence boundary. A symbol spanning
  positions ``[s, e)`` stores its id at ``s`` *and* at ``e - 1`` (interior positions hold ``INTERIOR``): the
  right neighbour starts at ``e = s + tlen[id]`` and the left neighbour's id is ``tok[s - 1]``, so no
  prev/next arrays are needed. An entry ``s`` recorded as the start of an ``a`` symbol is still one iff
  ``tok[s] == a`` (symbols only grow, and a longer symbol has another id).
* ``pool``: positions (left symbol start) of pair occurrences, grouped in *blocks*; each pair slot has a linked
  list of blocks (``head`` -> ``bnext``). A merge step appends one block per new pair. Entries are checked
  when read and stale ones are dropped when the pool is compacted.
* *Implicit* pairs (``head == IMPLICIT``): pairs so frequent (>= ``implicit_min`` occurrences; by default a
  quarter of the part, so only pathological ones such as (A, A) in poly-A) that listing them would cost more
  memory than re-scanning the part once when they are merged. At most ~2 * len(tok) / implicit_min pairs are
  ever implicit, which bounds the scans.
* Pruning (``keep_min``): a new pair whose count is below ``keep_min`` gets no slot. A pair only gains count
  when one of its tokens is the new token of a step, so, except after a re-created string, an untracked pair
  stays below ``keep_min``; the trainer recounts (``count_pairs``) when that guarantee ends.
* Weights: sequences are sorted by count, so count runs are found by a binary search on ``wpos``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tokenmill.operators.bpe.kernel_constants import (
    IMPLICIT,
    INTERIOR,
    NBLOCKS,
    NEED_BLOCKS,
    NEED_SLOTS,
    NSLOTS,
    POOLN,
    POSITION_DTYPES,
    TOKEN_DTYPES,
    signatures,
)
from tokenmill.operators.bpe.pair_table_kernels import find_or_add_slot, find_slot, grow

EXPORTS = {  # the kernels Python calls (through operators.bpe.kernels) -> their numba signatures, for the AOT build
    "apply_merge": signatures(
        "Tuple((i8, i8, i8, i8, {1}[:]))({0}[:], i4[:], i8[:], i8[:], i8[:], i4[:], i4[:], "
        "i4[:], i8[:], i4[:], i8[:], {1}[:], i8[:], i4[:], i4[:], i4[:], i8[:, :], i8[:], i8[:], "
        "i4[:], i8, i8, i8, b1, i8, i8, i8)",
        TOKEN_DTYPES,
        POSITION_DTYPES,
    ),
}


@njit(cache=True)
def compact(tok, tlen, sa, sb, cnt, head, meta, pool, bstart, blen, bnext, bslot):
    """Drop stale entries and dead blocks (count <= 0, or the pair became implicit) from the pool, in place."""
    nb = meta[NBLOCKS]
    newid = np.empty(nb, np.int32)
    w = 0
    nk = 0
    for k in range(nb):
        s = bslot[k]
        w0 = w
        if cnt[s] > 0 and head[s] != IMPLICIT:
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
        if h >= 0:
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


@njit(cache=True, inline="always")
def _merge_run(tok, wpos, wval, dl_old, dl_new, dr_old, dr_new, mark, tl, tr, created, nc, ntl, ntr, s, a, b, new, la, lb):
    """Merge the (a, b) occurrence at symbol start ``s`` — for a == b the whole run of a's, left to right from
    its start (AAA -> AA A, like the reference) — and record the neighbour count changes: ``dl_old[x]`` for
    (x, a) with left neighbour x, ``dl_new[x]`` for (x, new), ``dr_old[y]`` for (b, y), ``dr_new[y]`` for (new, y).

    Returns ``(nc, ntl, ntr, merged_weight, next_start)``.
    """
    if a == b:
        while tok[s - 1] == a:
            s -= la
    merged = 0
    while True:
        w = wval[0] if wval.shape[0] == 1 else wval[np.searchsorted(wpos, s, "right") - 1]
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
        # duplicates: the right neighbour's bookkeeping mirrors the left one's above (mark bit 2 instead of 1, tr instead
        # of tl); inside an always-inlined numba kernel, spelled out.
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
        s = end
        if a != b or tok[s] != a or tok[s + la] != a:
            break
    return nc, ntl, ntr, merged, s


@njit(cache=True)
def apply_merge(
    tok,
    tlen,
    wpos,
    wval,
    hkeys,
    hvals,
    sa,
    sb,
    cnt,
    head,
    meta,
    pool,
    bstart,
    blen,
    bnext,
    bslot,
    scratch,
    out_keys,
    out_deltas,
    pushed,
    a,
    b,
    new,
    is_dup,
    maxlen,
    keep_min,
    implicit_min,
):
    """Merge every occurrence of (a, b) into ``new``; update local counts and positions.

    Returns ``(status, n_out, n_pushed, merged_weight, pool)``. ``status`` < 0 asks the caller to grow an array
    (``n_out`` then holds the size needed) and call again; nothing was changed. ``out_keys/out_deltas[:n_out]``
    are the count changes (for a coordinator), ``pushed[:n_pushed]`` the slots whose count grew (for the heap);
    ``pool`` is the position pool, reallocated if it had to grow. Only pairs next to a merged occurrence are
    touched, so a step costs O(occurrences) — O(part) for an implicit pair.
    """
    V = (scratch.shape[1] - 1) // 2
    s_ab = find_slot(hkeys, hvals, a, b)
    if s_ab < 0 or cnt[s_ab] <= 0:
        return 0, 0, 0, 0, pool
    if meta[NSLOTS] + 2 * V + 1 > sa.shape[0] or 2 * (meta[NSLOTS] + 2 * V + 1) > hkeys.shape[0]:
        return NEED_SLOTS, meta[NSLOTS] + 2 * V + 1, 0, 0, pool
    if meta[NBLOCKS] + 2 * V + 2 > bstart.shape[0]:
        return NEED_BLOCKS, meta[NBLOCKS] + 2 * V + 2, 0, 0, pool
    la = tlen[a]
    lb = tlen[b]
    ln = la + lb
    tlen[new] = ln
    n = tok.shape[0]
    if head[s_ab] == IMPLICIT:
        bound = min(cnt[s_ab] // wval.min(), n)
    else:
        bound = 0
        k = head[s_ab]
        while k >= 0:
            bound += blen[k]
            k = bnext[k]
    created = np.empty(bound, pool.dtype)
    # Row views made once: making them per occurrence costs reference counting in the hot loop.
    dl_old, dl_new, dr_old, dr_new = scratch[0], scratch[1], scratch[2], scratch[3]
    mark, tl, tr = scratch[4], scratch[5], scratch[6]
    nc = 0
    ntl = 0
    ntr = 0
    merged = 0
    if head[s_ab] == IMPLICIT:
        i = 0
        while i < n - 1:
            x = tok[i]
            if la == 1 and x != a:
                i += 1  # a one-character a is its own start and end: a plain scan cannot mistake it
            elif x < 0:
                i += 1
            elif x == a and tok[i + la] == b:  # longer a: walk symbol starts, an end marker looks like a start
                nc, ntl, ntr, m, i = _merge_run(tok, wpos, wval, dl_old, dl_new, dr_old, dr_new, mark, tl, tr, created, nc, ntl, ntr, i, a, b, new, la, lb)
                merged += m
            else:
                i += tlen[x]
    else:
        k = head[s_ab]
        while k >= 0:
            for e in range(bstart[k], bstart[k] + blen[k]):
                s = pool[e]
                if tok[s] == a and tok[s + la] == b:  # else a stale entry
                    nc, ntl, ntr, m, _ = _merge_run(tok, wpos, wval, dl_old, dl_new, dr_old, dr_new, mark, tl, tr, created, nc, ntl, ntr, s, a, b, new, la, lb)
                    merged += m
            k = bnext[k]

    n_out, n_pushed = _update_counts(
        hkeys, hvals, sa, sb, cnt, head, meta, tlen, scratch, out_keys, out_deltas, pushed, ntl, ntr, a, b, new, ln, maxlen, keep_min
    )
    cnt[s_ab] = 0
    pool = _record_positions(
        tok, tlen, sa, sb, cnt, meta, pool, bstart, blen, bnext, bslot, head, hkeys, hvals, created, nc, scratch, ntl, ntr, new, ln, is_dup, implicit_min, V
    )
    for i in range(ntl):
        x = scratch[5, i]
        scratch[0, x] = 0
        scratch[1, x] = 0
        scratch[4, x] = 0
    for i in range(ntr):
        y = scratch[6, i]
        scratch[2, y] = 0
        scratch[3, y] = 0
        scratch[4, y] = 0
    return 0, n_out, n_pushed, merged, pool


@njit(cache=True)
def _update_counts(hkeys, hvals, sa, sb, cnt, head, meta, tlen, scratch, out_keys, out_deltas, pushed, ntl, ntr, a, b, new, ln, maxlen, keep_min):
    """Apply the step's count changes: increments first (they create the new pairs' slots), then decrements.

    A new pair is tracked only if its increment reaches ``keep_min``; (new, new) can be reached from both
    sides, so its two halves are decided together.
    """
    dl_old, dl_new, dr_old, dr_new, mark, tl, tr, lslot, rslot = (
        scratch[0],
        scratch[1],
        scratch[2],
        scratch[3],
        scratch[4],
        scratch[5],
        scratch[6],
        scratch[7],
        scratch[8],
    )
    n_out = 0
    n_pushed = 0
    for side in range(2):
        nt = ntl if side == 0 else ntr
        for i in range(nt):
            z = tl[i] if side == 0 else tr[i]
            if side == 0:
                lslot[z] = -1
                d = dl_new[z]
                if z == new and mark[new] & 2:
                    d += dr_new[new]
            else:
                rslot[z] = -1
                if z == new and mark[new] & 1:
                    rslot[new] = lslot[new]  # decided on the left side
                    continue
                d = dr_new[z]
            if d == 0 or (maxlen > 0 and tlen[z] + ln > maxlen):
                continue
            x = z if side == 0 else new
            y = new if side == 0 else z
            s = find_slot(hkeys, hvals, x, y)
            if s < 0:
                if d < keep_min:
                    continue
                s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, x, y)
            cnt[s] += d
            if side == 0:
                lslot[z] = s
            else:
                rslot[z] = s
            out_keys[n_out] = (np.int64(x) << 32) | y
            out_deltas[n_out] = d
            n_out += 1
            pushed[n_pushed] = s
            n_pushed += 1
    for side in range(2):
        nt = ntl if side == 0 else ntr
        for i in range(nt):
            z = tl[i] if side == 0 else tr[i]
            d = dl_old[z] if side == 0 else dr_old[z]
            x = z if side == 0 else b
            y = a if side == 0 else z
            s = find_slot(hkeys, hvals, x, y) if d != 0 else -1
            if s >= 0:  # else never tracked (pruned or too long)
                cnt[s] += d
                out_keys[n_out] = (np.int64(x) << 32) | y
                out_deltas[n_out] = d
                n_out += 1
    return n_out, n_pushed


@njit(cache=True)
def _record_positions(
    tok, tlen, sa, sb, cnt, meta, pool, bstart, blen, bnext, bslot, head, hkeys, hvals, created, nc, scratch, ntl, ntr, new, ln, is_dup, implicit_min, V
):
    """Append one pool block per new tracked pair, holding the positions of its occurrences after this step.

    Bins: left neighbour x -> x, right neighbour y -> V + y, (new, new) -> 2V. A (new, new) pair is recorded
    once, as the right pair of its left symbol — unless ``new`` existed before this step (a re-created string),
    when its left pair may be an old symbol and both sides are recorded (a duplicate entry is harmless: the
    second visit finds it stale). Returns the pool (reallocated if it had to grow).
    """
    tl, tr, lslot, rslot, binn = scratch[5], scratch[6], scratch[7], scratch[8], scratch[9]
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
    # Which bins get a block: frequent new pairs become implicit instead.
    need = 0
    for j in range(ntl + ntr + 1):
        bn, slot = _bin(j, ntl, ntr, tl, tr, lslot, rslot, nn_slot, new, V)
        size = binn[bn]
        if size == 0 or slot < 0:
            binn[bn] = 0
        elif head[slot] == IMPLICIT or size >= implicit_min:
            head[slot] = IMPLICIT
            binn[bn] = 0
        else:
            need += size
    if meta[POOLN] + need > pool.shape[0]:
        compact(tok, tlen, sa, sb, cnt, head, meta, pool, bstart, blen, bnext, bslot)
        if meta[POOLN] + need > pool.shape[0]:
            pool = grow(pool, max(meta[POOLN] + need, pool.shape[0] + pool.shape[0] // 2))
    off = meta[POOLN]
    for j in range(ntl + ntr + 1):
        bn, slot = _bin(j, ntl, ntr, tl, tr, lslot, rslot, nn_slot, new, V)
        size = binn[bn]
        if size == 0:
            binn[bn] = -1  # nothing to write
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
            bn = 2 * V if x == new else x
            if ((x == new and nn_slot >= 0) or (x != new and lslot[x] >= 0)) and binn[bn] >= 0:
                pool[binn[bn]] = s - tlen[x]
                binn[bn] += 1
        y = tok[s + ln]
        if y >= 0:
            bn = 2 * V if y == new else V + y
            if ((y == new and nn_slot >= 0) or (y != new and rslot[y] >= 0)) and binn[bn] >= 0:
                pool[binn[bn]] = s
                binn[bn] += 1
    meta[POOLN] = off
    for j in range(ntl):
        binn[tl[j]] = 0
    for j in range(ntr):
        binn[V + tr[j]] = 0
    binn[2 * V] = 0
    return pool


@njit(cache=True, inline="always")
def _bin(j, ntl, ntr, tl, tr, lslot, rslot, nn_slot, new, V):
    """The j-th touched bin and its slot (-1: none); left bins of ``new`` and right bins of ``new`` map to 2V."""
    if j < ntl:
        return tl[j], (lslot[tl[j]] if tl[j] != new else -1)
    if j < ntl + ntr:
        y = tr[j - ntl]
        return V + y, (rslot[y] if y != new else -1)
    return 2 * V, nn_slot
