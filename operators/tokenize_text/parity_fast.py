"""Fast parity-aware BPE: :func:`train_parity_fast` gives exactly the vocabulary, merges and stats of the
pure-Python reference :func:`operators.tokenize_text.parity_bpe.train_parity_bpe` (tested on many inputs, ties
included), with the work in the numba kernels of :mod:`operators.tokenize_text.parity_kernels`.

Per merge the Python side only picks the string of the new token (:class:`operators.bpe.fast_trainer.Vocab`,
which knows re-created strings); choosing the worst language and its best pair, re-writing the words that hold
the pair, the per-language pair counts, heaps and dev token counts are kernel work. Words are grouped as one entry
per distinct (language, word) with a train and a dev weight, so a word that is both training and dev text (the
default: ``dev=None``) is merged once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import ClassVar, Unpack

import numpy as np

from tokenmill.operators.bpe.fast_trainer import Vocab
from tokenmill.operators.bpe.kernel_constants import HEAPN, META_SIZE, NSLOTS
from tokenmill.operators.bpe.pair_table_kernels import reindex
from tokenmill.operators.tokenize_text import parity_kernels as PK
from tokenmill.operators.tokenize_text.parity_bpe import (
    GlobalMerges,
    ParityArgs,
    ParityOptions,
    cap_reference,
    global_members,
    prepare,
    reference_tokens,
)

log = logging.getLogger(__name__)


def _pow2(n: int) -> int:
    return 1 << max(4, int(n - 1).bit_length())


def _sized(arr: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    """A copy of ``arr`` grown (filled with ``fill``) or cut to ``n`` items."""
    out = np.full(n, fill, arr.dtype)
    m = min(n, len(arr))
    out[:m] = arr[:m]
    return out


class _PairTable:
    """A pair table (:mod:`operators.bpe.pair_table_kernels` layout) with per-slot side arrays that grow with it.

    A subclass names its side arrays in ``side`` (name -> (dtype, fill)) and declares them as attributes.
    """

    side: ClassVar[dict[str, tuple[type, int]]] = {}

    def __init__(self, cap: int) -> None:
        self.meta = np.zeros(META_SIZE, np.int64)
        self.sa, self.sb = np.zeros(cap, np.int32), np.zeros(cap, np.int32)
        self.cnt, self.head = np.zeros(cap, np.int64), np.full(cap, -1, np.int32)
        for name, (dtype, fill) in self.side.items():
            setattr(self, name, np.full(cap, fill, dtype))
        self._reindex(_pow2(2 * cap))

    def _reindex(self, hcap: int) -> None:
        self.keys = np.full(hcap, -1, np.int64)
        self.vals = np.empty(hcap, np.int32)
        reindex(self.keys, self.vals, self.sa, self.sb, int(self.meta[NSLOTS]))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The table as the kernels take it: keys, vals, sa, sb, cnt, head, meta (side arrays are passed by name)."""
        return self.keys, self.vals, self.sa, self.sb, self.cnt, self.head, self.meta

    def grow(self) -> None:
        self.resize(2 * len(self.sa))

    def resize(self, cap: int) -> None:
        """Room for ``cap`` slots (at least the used ones)."""
        cap = max(cap, int(self.meta[NSLOTS]) + 1)
        self.sa, self.sb, self.cnt = _sized(self.sa, cap), _sized(self.sb, cap), _sized(self.cnt, cap)
        self.head = _sized(self.head, cap, -1)
        for name, (_, fill) in self.side.items():
            setattr(self, name, _sized(getattr(self, name), cap, fill))
        self._reindex(_pow2(2 * cap))


class _CountTable(_PairTable):
    """The *counts* table (see :mod:`~operators.tokenize_text.parity_kernels`), with the per-slot step stamps,
    touched list and heap stamps."""

    side: ClassVar[dict[str, tuple[type, int]]] = {"tstamp": (np.int32, -1), "tstart": (np.int64, 0), "touched": (np.int32, 0), "hseen": (np.int64, 0)}
    tstamp: np.ndarray
    tstart: np.ndarray
    touched: np.ndarray
    hseen: np.ndarray


class _WhereTable(_PairTable):
    """The *where* table: pair -> linked list of the entries holding it; ``last`` = the entry listed last."""

    side: ClassVar[dict[str, tuple[type, int]]] = {"last": (np.int32, -1)}
    last: np.ndarray


class ParityState:
    """The kernels' state for one training run (see :mod:`operators.tokenize_text.parity_kernels`)."""

    def __init__(
        self,
        tok: np.ndarray,
        estart: np.ndarray,
        elen: np.ndarray,
        elang: np.ndarray,
        wtrain: np.ndarray,
        wdev: np.ndarray,
        active: np.ndarray,
        vocab_size: int,
        min_count: int,
        slack: float = 1.0,
        glob: int = -1,
        gin: np.ndarray | None = None,
    ) -> None:
        """``active`` has one more item than the languages when ``glob >= 0`` (the overall pseudo-language, which
        counts the languages ``gin`` holds; None: all)."""
        self.tok, self.estart, self.elen, self.elang = tok, estart, elen, elang
        self.glob = glob
        self.gin = np.ones(len(active), np.bool_) if gin is None else gin
        self.wtrain, self.wdev, self.active = wtrain, wdev, active
        self.min_count = min_count
        self.shift = max(1, int(vocab_size - 1).bit_length())
        if (len(active) << self.shift) >= 2**31:
            raise ValueError(
                f"parity bpe: {len(active)} languages x vocab_size {vocab_size} exceed the pair key "
                "(languages << bits(vocab_size) must stay below 2**31); train fewer languages at once"
            )
        self.dev_tokens = np.zeros(len(active) - (glob >= 0), np.int64)
        np.add.at(self.dev_tokens, elang, elen.astype(np.int64) * wdev)
        occurrences = max(int(np.maximum(elen - 1, 0).sum()), 16)
        self.counts = _CountTable(occurrences * (2 if glob >= 0 else 1))
        self.where = _WhereTable(occurrences)
        self.node_entry = np.zeros(occurrences, np.int32)
        self.node_next = np.zeros(occurrences, np.int32)
        self.state = np.zeros(PK.STATE_SIZE, np.int64)
        c, g = self.counts, self.where
        PK.count_initial(
            tok, estart, elen, elang, wtrain, active, self.shift, c.arrays(), g.arrays(), g.last, self.node_entry, self.node_next, self.state, glob, self.gin
        )
        n = int(c.meta[NSLOTS])
        # After the first pass everything keeps ``slack`` x what it uses as room to grow into (the tests use 0,
        # so that every regrowth path runs).
        c.resize(int(n * (1 + slack)) + 1)
        g.resize(int(g.meta[NSLOTS] * (1 + slack)) + 1)
        nodes = int(self.state[PK.NNODES] * (1 + slack)) + 1
        self.node_entry, self.node_next = _sized(self.node_entry, nodes), _sized(self.node_next, nodes)
        langs = c.sa[:n] >> self.shift
        live = np.bincount(langs[c.cnt[:n] >= max(1, min_count)], minlength=len(active))
        self.hcap = (live + (live * slack).astype(np.int64) + 1).astype(np.int64)
        self._layout_heaps()
        PK.build_heaps(c.sa, c.sb, c.cnt, n, self.shift, active, self.hc, self.hs, self.hoff, self.hcap, self.hmeta, self.min_count)
        self.no_push = np.zeros(0, np.int32)
        self.regrowths = {"count_slots": 0, "where_slots": 0, "node_rebuilds": 0, "nodes": 0, "heaps": 0}

    def _layout_heaps(self, old: tuple[np.ndarray, ...] | None = None) -> None:
        """Lay the heaps out for ``hcap``, copying the entries of ``old`` = (hc, hs, hoff, hmeta) if given."""
        hoff = np.concatenate([[0], np.cumsum(self.hcap)[:-1]]).astype(np.int64)
        hc, hs = np.zeros(int(self.hcap.sum()), np.int64), np.zeros(int(self.hcap.sum()), np.int32)
        hmeta = np.zeros((len(self.hcap), META_SIZE), np.int64)
        if old is not None:
            ohc, ohs, ohoff, ohmeta = old
            for lang in range(len(self.hcap)):
                n = int(ohmeta[lang, HEAPN])
                hc[hoff[lang] : hoff[lang] + n] = ohc[ohoff[lang] : ohoff[lang] + n]
                hs[hoff[lang] : hoff[lang] + n] = ohs[ohoff[lang] : ohoff[lang] + n]
            hmeta[:] = ohmeta
        self.hc, self.hs, self.hoff, self.hmeta = hc, hs, hoff, hmeta

    def pick(self, only: int = -1) -> tuple[int, int, int, int]:
        """``(lang, left, right, count)`` of the next merge; ``left = -1``: ``lang`` was just retired;
        ``lang = -1``: no language is left. ``only``: ask that language (the overall one: ``glob``)."""
        c = self.counts
        lang, s = PK.pick(
            self.dev_tokens, self.active, self.hc, self.hs, self.hoff, self.hcap, self.hmeta, c.sa, c.sb, c.cnt, self.no_push, self.min_count, only
        )
        if s < 0:
            return int(lang), -1, -1, 0
        return int(lang), int(c.sa[s]) & ((1 << self.shift) - 1), int(c.sb[s]), int(c.cnt[s])

    def apply(self, a: int, b: int, new: int, step: int) -> None:
        """Merge (a, b) into ``new`` everywhere, then push the pairs whose count grew."""
        c, g = self.counts, self.where
        self.state[PK.STEP] = step
        while True:
            status = PK.apply_merge(
                self.tok,
                self.estart,
                self.elen,
                self.elang,
                self.wtrain,
                self.wdev,
                self.active,
                self.shift,
                c.arrays(),
                c.tstamp,
                c.tstart,
                c.touched,
                g.arrays(),
                g.last,
                self.node_entry,
                self.node_next,
                self.state,
                self.dev_tokens,
                a,
                b,
                new,
                self.glob,
                self.gin,
            )
            if status == 0:
                break
            if status == PK.NEED_COUNT_SLOTS:
                c.grow()
                self.regrowths["count_slots"] += 1
            elif status == PK.NEED_WHERE_SLOTS:
                g.grow()
                self.regrowths["where_slots"] += 1
            else:  # nodes: drop the stale ones first; grow when at least half are live
                self.regrowths["node_rebuilds"] += 1
                live = PK.rebuild_lists(self.tok, self.estart, self.elen, g.arrays(), g.last, self.node_entry, self.node_next, self.state)
                if 2 * live > len(self.node_entry) or live + self.state[PK.NEED] > len(self.node_entry):
                    self.regrowths["nodes"] += 1
                    cap = max(2 * len(self.node_entry), live + int(self.state[PK.NEED]))
                    self.node_entry, self.node_next = _sized(self.node_entry, cap), _sized(self.node_next, cap)
        self._push()

    def shift_overall(self, lang: int, member: bool, stamp: int) -> None:
        """Move language ``lang``'s train pairs into (``member``) or out of the overall counts, then push the pairs
        whose count grew; ``stamp`` (< -1, unique) marks the touched slots."""
        c = self.counts
        lo, hi = np.searchsorted(self.elang, lang, "left"), np.searchsorted(self.elang, lang, "right")  # entries are grouped by language
        pairs = int(np.maximum(self.elen[lo:hi] - 1, 0).sum())
        while c.meta[NSLOTS] + pairs + 1 > len(c.sa) or 2 * (c.meta[NSLOTS] + pairs + 1) > len(c.keys):
            c.grow()
            self.regrowths["count_slots"] += 1
        self.state[PK.STEP] = stamp
        self.gin[lang] = member
        PK.shift_overall(
            lo,
            hi,
            1 if member else -1,
            self.tok,
            self.estart,
            self.elen,
            self.wtrain,
            self.shift,
            c.arrays(),
            c.tstamp,
            c.tstart,
            c.touched,
            self.state,
            self.glob,
        )
        self._push()

    def _push(self) -> None:
        """Push the touched slots whose count grew into their heaps (growing a heap when it is full)."""
        c = self.counts
        start = 0
        while True:
            start = PK.push_touched(
                c.touched,
                start,
                c.tstart,
                c.sa,
                c.sb,
                c.cnt,
                self.active,
                self.shift,
                self.hc,
                self.hs,
                self.hoff,
                self.hcap,
                self.hmeta,
                c.hseen,
                self.state,
                self.min_count,
            )
            if start < 0:
                return
            lang = int(c.sa[c.touched[start]]) >> self.shift
            old = (self.hc, self.hs, self.hoff, self.hmeta)
            self.hcap[lang] *= 2
            self.regrowths["heaps"] += 1
            self._layout_heaps(old)


def _entries(
    train: Mapping[str, Mapping[str, int]], dev: Mapping[str, Mapping[str, int]], langs: list[str]
) -> tuple[list[str], list[int], list[int], list[int]]:
    """One entry per distinct (language, word) with a positive count: words, languages, train and dev weights."""
    weights: dict[tuple[int, str], list[int]] = {}
    for li, lang in enumerate(langs):
        for table, side in ((train[lang], 0), (dev.get(lang, {}), 1)):
            for w, n in table.items():
                if n > 0 and w:
                    weights.setdefault((li, w), [0, 0])[side] += n
    words = [w for _, w in weights]
    return words, [li for li, _ in weights], [v[0] for v in weights.values()], [v[1] for v in weights.values()]


def train_parity_fast(
    train: Mapping[str, Mapping[str, int]],
    dev: Mapping[str, Mapping[str, int]] | None = None,
    *,
    slack: float = 1.0,
    **args: Unpack[ParityArgs],
) -> tuple[dict[str, int], list[tuple[str, str]], dict]:
    """Parity-aware BPE on the numba kernels; arguments and result as
    :func:`operators.tokenize_text.parity_bpe.train_parity_bpe` (``stats["engine"]`` names this trainer).

    ``slack``: room kept to grow into after the first count, as a share of what it uses (0: none, so every
    regrowth path runs; the tests use it). ``stats["regrowths"]`` counts them.
    """
    opt = ParityOptions(**args)
    t0 = time.perf_counter()
    langs, dev, alphabet = prepare(train, dev, opt.initial_alphabet)
    vocab = Vocab(opt.special_tokens, alphabet, opt.vocab_size)
    planned = opt.vocab_size - len(vocab)
    words, elang, wtrain, wdev = _entries(train, dev, langs)
    lengths = np.fromiter(map(len, words), np.int32, len(words))
    estart = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]).astype(np.int64) if words else np.zeros(0, np.int64)
    points, inverse = np.unique(np.frombuffer("".join(words).encode("utf-32-le"), np.uint32), return_inverse=True)
    ids = np.array([vocab.str_to_id[chr(p)] for p in points.tolist()], np.int32)
    tok = ids[inverse].astype(np.int32) if len(points) else np.zeros(0, np.int32)
    overall = GlobalMerges(opt)
    ref, with_dev = cap_reference(langs, dev, opt.reference_lang)
    skip = -1 if opt.reference_in_global else ref
    nl = len(langs)
    elang_a, wdev_a = np.asarray(elang, np.int32), np.asarray(wdev, np.int64)
    dev0 = np.zeros(nl, np.int64)
    np.add.at(dev0, elang_a, lengths.astype(np.int64) * wdev_a)
    gin = np.array([*global_members(dev0, ref, with_dev, skip, opt.global_floor), True], np.bool_)
    members = np.arange(nl) != skip  # the overall counts' languages without the floor
    has_dev = np.isin(np.arange(nl), with_dev)
    glob = len(langs) if overall.on else -1  # the overall pseudo-language's index
    active = np.array([lang in dev and bool(dev[lang]) for lang in langs] + [True] * overall.on, np.bool_)
    st = ParityState(
        tok,
        estart,
        lengths,
        elang_a,
        np.asarray(wtrain, np.int64),
        wdev_a,
        active,
        opt.vocab_size,
        max(1, opt.min_frequency),
        slack,
        glob,
        gin,
    )
    t1 = time.perf_counter()
    merges: list[tuple[str, str]] = []
    chosen = {lang: 0 for lang in langs}
    stop = "vocab_size"
    shifts = 0
    while len(vocab) < opt.vocab_size:
        if opt.global_floor > 0.0 and overall.on and with_dev:
            # global_members, vectorized (int64 >= float64 compares exactly below 2**53, as Python's int >= float)
            floored = members & ~(has_dev & (st.dev_tokens < opt.global_floor * reference_tokens(st.dev_tokens, ref, with_dev)))
            now = floored if floored.any() else members
            for li in np.flatnonzero(now != st.gin[:nl]).tolist():
                shifts += 1
                st.shift_overall(li, bool(now[li]), -1 - shifts)
        worst = -1
        if opt.premium_cap > 0.0 and st.active[:nl].any():
            worst = int(np.argmax(np.where(st.active[:nl], st.dev_tokens, -1)))  # ties: the smallest index
        if overall.chooses(len(merges), planned, st.dev_tokens, worst, ref, with_dev):
            _, a, b, _ = st.pick(glob)
            if a < 0:  # pick retired the overall pseudo-language: it stops being counted
                overall.exhausted()
                continue
            overall.n += 1
        else:
            if glob >= 0 and not overall.on:
                st.active[glob] = False  # the overall counts have ended (pick already retired it when exhausted)
            lang, a, b, _ = st.pick(worst)
            if lang < 0:
                stop = "min_frequency"
                break
            if a < 0:
                log.info("parity bpe: %s has no pair left occurring %d times", langs[lang], opt.min_frequency)
                continue
            chosen[langs[lang]] += 1
        new, _ = vocab.merge(a, b)
        merges.append((vocab.id_to_str[a], vocab.id_to_str[b]))
        st.apply(a, b, new, len(merges))
    stats = {
        "engine": "tokenmill parity-aware bpe v1 (numba)",
        "vocab_size": len(vocab),
        "merges": len(merges),
        "stop_reason": stop,
        "chosen": chosen,
        "global": overall.n,
        "dev_tokens": {lang: int(n) for lang, n in zip(langs, st.dev_tokens)},
        "seconds": round(time.perf_counter() - t0, 3),
        "setup_seconds": round(t1 - t0, 3),
        "regrowths": st.regrowths,
        "floor_shifts": shifts,
    }
    return dict(vocab.str_to_id), merges, stats
