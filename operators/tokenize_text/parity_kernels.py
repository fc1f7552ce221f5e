"""Numba kernels of the fast parity-aware BPE trainer (:mod:`operators.tokenize_text.parity_fast`).

State (owned by :class:`operators.tokenize_text.parity_fast.ParityState`):

* *Entries*: one per distinct (language, word), with a train weight (its count in the training text; 0 when it is
  only dev text) and a dev weight (its count in the parallel dev text). An entry's tokens live in
  ``tok[estart[e]: estart[e] + elen[e]]`` and are rewritten in place as merges shrink them (words are short, so a
  merge re-reads the whole word, as the reference does).
* *Counts*: one pair table (:mod:`operators.bpe.pair_table_kernels`) keyed by (language, left, right): the left
  key is ``lang << shift | left``, so within one language the heap's tie-break on ``sa`` is the tie-break on the
  left id. Only languages still *active* (they may still choose a merge) are counted: a language leaves for good.
* *Overall* (the hybrid's global merges): when ``glob >= 0``, language index ``glob`` (one past the real
  languages) is a pseudo-language that counts the train words of the languages ``gin`` holds (all but the
  premium cap's reference when it stays out, and with a global floor only those not far better compressed than
  it: :func:`shift_overall` moves a language in or out), active or not, while ``active[glob]``; its heap
  gives the top pair overall. It has no dev tokens and is never the worst language.
* *Where*: a second pair table keyed by (left, right), whose ``head`` starts a linked list of the entries that
  contain the pair (``node_entry``/``node_next``); stale and duplicate nodes are harmless (the word is re-read).
* A pair table reaches a kernel as one tuple ``(keys, vals, sa, sb, cnt, head, meta)`` (``parity_fast``'s
  ``table.arrays()``; ``ctab`` the counts, ``gtab`` the where table), unpacked there into the arrays that
  :mod:`operators.bpe.pair_table_kernels` takes.
* *Heaps*: one max-heap per language, segments ``[hoff[L], hoff[L] + hcap[L])`` of ``hc``/``hs`` with
  ``hmeta[L]`` as its meta row, driven by :func:`operators.bpe.pair_table_kernels.heap_push` and
  :func:`~operators.bpe.pair_table_kernels.push_and_pop` (lazy invalidation, exact argmax, same tie-break).

A merge that re-creates an existing string (``ab`` + ``c`` after ``a`` + ``bc``) gets that string's id from the
Python side and needs no special case here: pairs are pairs of ids, and a pair merged earlier that forms again
is listed and counted again like any new pair.

A kernel that runs out of room returns a status naming what must grow; the owner grows it and calls again, and
the kernel resumes where it stopped (the merged pair's entry list is consumed as it goes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tokenmill.operators.bpe.kernel_constants import HEAPN, NSLOTS
from tokenmill.operators.bpe.pair_table_kernels import find_or_add_slot, find_slot, heap_push, push_and_pop

# state[] fields (int64) of the kernels below.
NNODES = 0
"""Nodes used in the entry lists."""
NTOUCHED = 1
"""Count slots touched in the current step (listed in ``touched``)."""
STEP = 2
"""Number of the current merge step (stamps ``tstamp``)."""
COMPACTIONS = 3
"""Heap compactions so far (stamps ``hseen``)."""
NEED = 4
"""After a NEED_* status: the room the word being merged needs."""
STATE_SIZE = 5

# apply_merge status codes (0: done).
NEED_COUNT_SLOTS = 1
NEED_WHERE_SLOTS = 2
NEED_NODES = 3


@njit(cache=True)
def count_initial(
    tok,
    estart,
    elen,
    elang,
    wtrain,
    active,
    shift,
    ctab,
    gtab,
    glast,
    node_entry,
    node_next,
    state,
    glob,
    gin,
):
    """Count the pairs of the active languages' train words (and overall, under ``glob``, those of the languages
    ``gin`` holds) and list, per pair, the entries that contain it.

    The caller sizes the counts table for two slots per pair occurrence (one with ``glob``), the where table for
    every occurrence and the node arrays for one node per occurrence.
    """
    ckeys, cvals, csa, csb, ccnt, chead, cmeta = ctab
    gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta = gtab
    for e in range(estart.shape[0]):
        st = estart[e]
        n = elen[e]
        lang = elang[e]
        counted = wtrain[e] > 0 and active[lang]
        gcounted = glob >= 0 and wtrain[e] > 0 and active[glob] and gin[lang]
        for i in range(st, st + n - 1):
            x = tok[i]
            y = tok[i + 1]
            if counted:
                s = find_or_add_slot(ckeys, cvals, csa, csb, ccnt, chead, cmeta, (np.int64(lang) << shift) | x, y)
                ccnt[s] += wtrain[e]
            if gcounted:
                s = find_or_add_slot(ckeys, cvals, csa, csb, ccnt, chead, cmeta, (np.int64(glob) << shift) | x, y)
                ccnt[s] += wtrain[e]
            g = find_or_add_slot(gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta, x, y)
            _add_node(g, e, ghead, glast, node_entry, node_next, state)


@njit(cache=True, inline="always")
def _add_node(g, e, ghead, glast, node_entry, node_next, state):
    if glast[g] != e:  # the same word is listed once per pair and step
        glast[g] = e
        k = state[NNODES]
        state[NNODES] = k + 1
        node_entry[k] = e
        node_next[k] = ghead[g]
        ghead[g] = k


@njit(cache=True)
def rebuild_lists(tok, estart, elen, gtab, glast, node_entry, node_next, state):
    """Drop every node and list each entry again under the pairs it contains now (compacts the node arrays).

    Safe in the middle of a merge: the merged pair's unprocessed entries are listed again, the processed ones no
    longer contain it. Returns the number of nodes used.
    """
    gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta = gtab
    state[NNODES] = 0
    for g in range(gmeta[NSLOTS]):
        ghead[g] = -1
        glast[g] = -1
    for e in range(estart.shape[0]):
        st = estart[e]
        for i in range(st, st + elen[e] - 1):
            g = find_or_add_slot(gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta, tok[i], tok[i + 1])
            _add_node(g, e, ghead, glast, node_entry, node_next, state)
    return state[NNODES]


@njit(cache=True, inline="always")
def _touch(s, ccnt, tstamp, tstart, touched, state):
    if tstamp[s] != state[STEP]:
        tstamp[s] = state[STEP]
        tstart[s] = ccnt[s]
        touched[state[NTOUCHED]] = s
        state[NTOUCHED] += 1


@njit(cache=True)
def apply_merge(
    tok,
    estart,
    elen,
    elang,
    wtrain,
    wdev,
    active,
    shift,
    ctab,
    tstamp,
    tstart,
    touched,
    gtab,
    glast,
    node_entry,
    node_next,
    state,
    dev_tokens,
    a,
    b,
    new,
    glob,
    gin,
):
    """Merge (a, b) into ``new`` in every word that contains it (left to right, no overlaps, as the reference).

    Active languages' train counts (and the overall ones, under ``glob`` while ``active[glob]``, of the languages
    ``gin`` holds) are updated
    (count slots that change are listed in ``touched``, with their count before the step in ``tstart``); pairs
    that contain ``new`` list the word; ``dev_tokens`` shrinks by the dev weight times the tokens saved. Returns 0
    when done, else the NEED_* status of what must grow first.
    """
    ckeys, cvals, csa, csb, ccnt, chead, cmeta = ctab
    gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta = gtab
    g0 = find_slot(gkeys, gvals, a, b)
    if g0 < 0:
        return 0
    while ghead[g0] >= 0:
        k = ghead[g0]
        e = node_entry[k]
        st = estart[e]
        n = elen[e]
        # Room for the worst case of this word: every pair new, in both tables (twice in counts: the language's and
        # the overall slot) and the node list.
        state[NEED] = n
        worst = cmeta[NSLOTS] + 2 * n
        if worst > csa.shape[0] or 2 * worst > ckeys.shape[0] or state[NTOUCHED] + 4 * n > touched.shape[0]:
            return NEED_COUNT_SLOTS
        if gmeta[NSLOTS] + n > gsa.shape[0] or 2 * (gmeta[NSLOTS] + n) > gkeys.shape[0]:
            return NEED_WHERE_SLOTS
        if state[NNODES] + n > node_entry.shape[0]:
            return NEED_NODES
        ghead[g0] = node_next[k]
        found = False
        for i in range(st, st + n - 1):
            if tok[i] == a and tok[i + 1] == b:
                found = True
                break
        if not found:  # stale or duplicate node
            continue
        lang = elang[e]
        w = wtrain[e]
        counted = w > 0 and active[lang]
        gcounted = glob >= 0 and w > 0 and active[glob] and gin[lang]
        code = np.int64(lang) << shift
        gcode = np.int64(glob) << shift
        if counted:
            for i in range(st, st + n - 1):
                s = find_slot(ckeys, cvals, code | tok[i], tok[i + 1])
                _touch(s, ccnt, tstamp, tstart, touched, state)
                ccnt[s] -= w
        if gcounted:
            for i in range(st, st + n - 1):
                s = find_slot(ckeys, cvals, gcode | tok[i], tok[i + 1])
                _touch(s, ccnt, tstamp, tstart, touched, state)
                ccnt[s] -= w
        j = st
        m = st
        while j < st + n:
            if j + 1 < st + n and tok[j] == a and tok[j + 1] == b:
                tok[m] = new
                j += 2
            else:
                tok[m] = tok[j]
                j += 1
            m += 1
        m -= st
        elen[e] = m
        dev_tokens[lang] -= (n - m) * wdev[e]
        for i in range(st, st + m - 1):
            x = tok[i]
            y = tok[i + 1]
            if counted:
                s = find_or_add_slot(ckeys, cvals, csa, csb, ccnt, chead, cmeta, code | x, y)
                _touch(s, ccnt, tstamp, tstart, touched, state)
                ccnt[s] += w
            if gcounted:
                s = find_or_add_slot(ckeys, cvals, csa, csb, ccnt, chead, cmeta, gcode | x, y)
                _touch(s, ccnt, tstamp, tstart, touched, state)
                ccnt[s] += w
            if x == new or y == new:
                g = find_or_add_slot(gkeys, gvals, gsa, gsb, gcnt, ghead, gmeta, x, y)
                _add_node(g, e, ghead, glast, node_entry, node_next, state)
    glast[g0] = -1  # the list is empty: a re-formed (a, b) must list its words again
    return 0


@njit(cache=True)
def shift_overall(lo, hi, sign, tok, estart, elen, wtrain, shift, ctab, tstamp, tstart, touched, state, glob):
    """Add (``sign`` 1) or take away (-1) the train pairs of entries ``lo..hi`` (one language's) to the overall
    counts; the slots that change are listed in ``touched``. The caller makes room first (a new slot and a touched
    item per pair) and sets a ``state[STEP]`` stamp of its own."""
    ckeys, cvals, csa, csb, ccnt, chead, cmeta = ctab
    gcode = np.int64(glob) << shift
    for e in range(lo, hi):
        w = wtrain[e]
        if w <= 0:
            continue
        st = estart[e]
        for i in range(st, st + elen[e] - 1):
            s = find_or_add_slot(ckeys, cvals, csa, csb, ccnt, chead, cmeta, gcode | tok[i], tok[i + 1])
            _touch(s, ccnt, tstamp, tstart, touched, state)
            ccnt[s] += sign * w


@njit(cache=True)
def push_touched(touched, start, tstart, csa, csb, ccnt, active, shift, hc, hs, hoff, hcap, hmeta, hseen, state, min_count):
    """Push the touched slots whose count grew into their language's heap (from ``touched[start]`` on).

    A full heap is first compacted (one fresh entry per live pair). Returns -1 when done, else the index of the
    touched slot whose language's heap must grow before calling again from there.
    """
    for i in range(start, state[NTOUCHED]):
        s = touched[i]
        c = ccnt[s]
        if c <= tstart[s] or c < min_count or c <= 0:
            continue  # its entry from before the step (if it needs one) is still >= its count
        lang = csa[s] >> shift
        if not active[lang]:
            continue
        if hmeta[lang, HEAPN] >= hcap[lang]:
            _compact_heap(lang, hc, hs, hoff, hmeta, csa, csb, ccnt, hseen, state, min_count)
            if 2 * hmeta[lang, HEAPN] >= hcap[lang]:
                return i
        o = hoff[lang]
        heap_push(hc[o : o + hcap[lang]], hs[o : o + hcap[lang]], hmeta[lang], csa, csb, c, s)
    state[NTOUCHED] = 0
    return -1


@njit(cache=True)
def _compact_heap(lang, hc, hs, hoff, hmeta, csa, csb, ccnt, hseen, state, min_count):
    """Rebuild one heap from its slots: one entry per live pair, at its current count (keeps the invariant that
    every live pair has an entry >= its count)."""
    state[COMPACTIONS] += 1
    stamp = state[COMPACTIONS]
    o = hoff[lang]
    n = hmeta[lang, HEAPN]
    keep = np.empty(n, np.int32)
    nk = 0
    for i in range(o, o + n):
        s = hs[i]
        if hseen[s] != stamp and ccnt[s] >= min_count and ccnt[s] > 0:
            hseen[s] = stamp
            keep[nk] = s
            nk += 1
    hmeta[lang, HEAPN] = 0
    seg_c = hc[o : o + n]
    seg_s = hs[o : o + n]
    for i in range(nk):
        heap_push(seg_c, seg_s, hmeta[lang], csa, csb, ccnt[keep[i]], keep[i])


@njit(cache=True)
def build_heaps(csa, csb, ccnt, nslots, shift, active, hc, hs, hoff, hcap, hmeta, min_count):
    """Fill the (empty, sized) heaps with every counted pair of at least ``min_count``."""
    for s in range(nslots):
        c = ccnt[s]
        if c >= min_count and c > 0:
            lang = csa[s] >> shift
            if active[lang]:
                o = hoff[lang]
                heap_push(hc[o : o + hcap[lang]], hs[o : o + hcap[lang]], hmeta[lang], csa, csb, c, s)


@njit(cache=True)
def pick(dev_tokens, active, hc, hs, hoff, hcap, hmeta, csa, csb, ccnt, pushed, min_count, only):
    """The worst-compressed active language (most dev tokens, then the smallest index; ``only >= 0``: that
    language, e.g. the overall pseudo-language) and its best pair's slot.

    Returns ``(lang, slot)``; ``slot = -1``: that language has no pair of ``min_count`` left and is made inactive
    (the caller logs it and asks again); ``lang = -1``: no language is active.
    """
    worst = only
    if only < 0:
        for lang in range(dev_tokens.shape[0]):  # the real languages only (dev_tokens has no overall entry)
            if active[lang] and (worst < 0 or dev_tokens[lang] > dev_tokens[worst]):
                worst = lang
    if worst < 0:
        return -1, -1
    o = hoff[worst]
    cap = hcap[worst]
    s = push_and_pop(hc[o : o + cap], hs[o : o + cap], hmeta[worst], csa, csb, ccnt, pushed, 0, min_count)
    if s < 0:
        active[worst] = False
    return worst, s
