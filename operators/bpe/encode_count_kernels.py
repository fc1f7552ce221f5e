"""Numba kernels that build a corpus part's state: encode sequences into the token array, count its pairs (at
the start and on a recount), list the pair positions. Layout: see :mod:`operators.bpe.merge_kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit

from tokenmill.operators.bpe.kernel_constants import CHAR_DTYPES, EMPTY, IMPLICIT, NSLOTS, POSITION_DTYPES, SEP, TOKEN_DTYPES, signatures
from tokenmill.operators.bpe.pair_table_kernels import find_or_add_slot, find_slot, grow, reindex

EXPORTS = {  # the kernels Python calls (through operators.bpe.kernels) -> their numba signatures, for the AOT build
    "histogram": signatures("i8[:]({0}[:], i8)", CHAR_DTYPES),
    "place": signatures("i8({0}[:], i8[:], i8[:], i4[:], {1}[:])", CHAR_DTYPES, TOKEN_DTYPES),
    "count_pairs": signatures("Tuple((i8[:], i4[:], i4[:], i4[:], i8[:], i8[:], i8))({0}[:], i4[:], i8[:], i8[:], i8)", TOKEN_DTYPES),
    "fill_positions": signatures(
        "UniTuple(i8, 2)({0}[:], i4[:], i8[:], i4[:], i8[:], i8, i8, {1}[:], i8[:], i4[:], i4[:], i4[:], i4[:])", TOKEN_DTYPES, POSITION_DTYPES
    ),
}


@njit(cache=True)
def histogram(data, size):
    """Occurrences of each value ``< size`` in ``data`` (np.bincount without its int64 copy of the input)."""
    h = np.zeros(size, np.int64)
    for v in data:
        h[v] += 1
    return h


@njit(cache=True)
def place(data, offsets, order, lut, tok):
    """Write the rows of ``data`` in ``order`` into ``tok`` as ids, a SEP before, between and after them.

    Returns -1, or the index in ``data`` of a character without an id.
    """
    pos = 0
    tok[pos] = SEP
    pos += 1
    for j in range(order.shape[0]):
        r = order[j]
        for i in range(offsets[r], offsets[r + 1]):
            v = lut[data[i]]
            if v < 0:
                return i
            tok[pos] = v
            pos += 1
        tok[pos] = SEP
        pos += 1
    return -1


@njit(cache=True)
def count_pairs(tok, tlen, wpos, wval, maxlen):
    """Count the adjacent symbol pairs of ``tok``, weighted; pairs longer than ``maxlen`` (> 0) are skipped.

    Returns ``(hkeys, hvals, sa, sb, cnt, nent, nslots)``; ``nent[s]`` is the number of occurrences of slot
    ``s``. The table grows as needed, so any alphabet size works.
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
        i = wpos[r]
        hi = wpos[r + 1] if r + 1 < nruns else tok.shape[0] - 1
        while i < hi:
            i = _count_until_full(tok, tlen, i, hi, wval[r], maxlen, hkeys, hvals, sa, sb, cnt, nent, head, meta)
            if i < hi:  # the table is full: double it (kept out of the hot loop, which must not reassign arrays)
                cap *= 2
                sa = grow(sa, cap)
                sb = grow(sb, cap)
                cnt = grow(cnt, cap)
                nent = grow(nent, cap)
                head = grow(head, cap)
                hkeys = np.full(2 * cap, EMPTY, np.int64)
                hvals = np.empty(2 * cap, np.int32)
                reindex(hkeys, hvals, sa, sb, meta[NSLOTS])
    return hkeys, hvals, sa, sb, cnt, nent, meta[NSLOTS]


@njit(cache=True, inline="always")
def _pair_at(tok, tlen, i):
    """The pair at position ``i``: ``(x, y, next)``, ``x`` the symbol starting there (negative: none starts there),
    ``y`` the symbol after it (negative: a separator, or ``x`` when ``x`` is), ``next`` where the walk goes on."""
    x = tok[i]
    if x < 0:
        return x, x, i + 1
    j = i + tlen[x]
    return x, tok[j], j


@njit(cache=True)
def _count_until_full(tok, tlen, i, hi, w, maxlen, hkeys, hvals, sa, sb, cnt, nent, head, meta):
    """Count pairs from symbol start ``i`` to ``hi``; returns where it stopped (``hi``, or earlier when full)."""
    cap = sa.shape[0]
    while i < hi:
        x, y, j = _pair_at(tok, tlen, i)
        if x >= 0 and y >= 0 and (maxlen <= 0 or tlen[x] + tlen[y] <= maxlen):
            if meta[NSLOTS] >= cap:
                return i
            s = find_or_add_slot(hkeys, hvals, sa, sb, cnt, head, meta, x, y)
            cnt[s] += w
            nent[s] += 1
        i = j
    return i


@njit(cache=True)
def fill_positions(tok, tlen, hkeys, hvals, nent, nslots, implicit_min, pool, bstart, blen, bnext, bslot, head):
    """List the positions of every tracked pair, one block per slot; frequent pairs become implicit.

    Returns ``(pool_len, n_blocks)``.
    """
    off = 0
    nb = 0
    for s in range(nslots):
        if nent[s] >= implicit_min:
            head[s] = IMPLICIT
            continue
        bstart[nb] = off
        blen[nb] = 0
        bnext[nb] = -1
        bslot[nb] = s
        head[s] = nb
        off += nent[s]
        nb += 1
    i = 0
    while i < tok.shape[0] - 1:
        x, y, j = _pair_at(tok, tlen, i)
        if x >= 0 and y >= 0:
            s = find_slot(hkeys, hvals, x, y)
            if s >= 0 and head[s] >= 0:
                k = head[s]
                pool[bstart[k] + blen[k]] = i
                blen[k] += 1
        i = j
    return off, nb
