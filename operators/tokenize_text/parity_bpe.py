"""Parity-aware BPE training (in the spirit of Foroutan et al., 2025, "Parity-aware byte pair encoding", and
MAGNET's equitable segmentation): at each step, merge the most frequent pair *of the language that is currently
worst compressed* instead of the most frequent pair overall. With one language it is plain BPE with
:func:`operators.bpe.train_reference`'s semantics (tested equal).

"Worst compressed" is measured on a parallel development set (UDHR: the same text in every language): the
language whose dev text currently takes the most tokens. Ties in pair counts go to the smallest (left id,
right id), as in :mod:`operators.bpe`, so training is deterministic. The trainer is pure Python with incremental
pair counts (only the words a merge touches are re-counted) and one lazy max-heap per language; it returns the
vocabulary and merges in the layout of :mod:`operators.bpe` (specials, then the alphabet by code point, then new
tokens in creation order), so :func:`operators.tokenize_text.save_byte_level_tokenizer` exports it unchanged.
It is slow on large inputs (all of UDHR, 32k: minutes; see the report) — a candidate for the engine's kernels.

*Hybrid* (the ``--global-merges`` idea of Foroutan et al.'s code): with ``global_merges = f > 0`` a share ``f`` of
the planned merges (``vocab_size`` minus the initial vocabulary) is the top pair *overall* (summed over every
language's training words, as plain BPE), the rest parity-aware. :func:`is_global_step` places them: ``first``:
the first ``round(f · planned)`` merges; ``last``: the last ones (parity-aware first); ``interleave``: spread evenly (step k is global when ⌊(k+1)f⌋ > ⌊kf⌋).
When no pair overall occurs ``min_frequency`` times the remaining global steps go to the parity choice.

*Premium cap* (``premium_cap = τ > 0``, instead of a fixed share): each step is parity-aware only while the worst
language's dev text takes more than τ times the tokens of the reference language's (``reference_lang``, English;
the median language when it has no dev text), else it is the top pair overall. The reference is never pushed down
to the others' level (it gains from the global merges); the languages above the cap are served worst first until
they are back under it. :func:`over_cap` decides, for both trainers. With ``global_floor = φ > 0`` a language whose
dev text takes fewer than φ times the reference's tokens leaves the overall counts (it is compressed well enough)
until it is back above (:func:`global_members`, before every merge).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, Unpack

from tokenmill.operators.bpe.reference import build_initial_vocab, merge_pair

if TYPE_CHECKING:
    import numpy as np  # the fast trainer passes its dev token array to over_cap

log = logging.getLogger(__name__)

Schedule = Literal["first", "last", "interleave"]


class ParityRule(TypedDict, total=False):
    """The merge rule's keywords (:meth:`MultilingualConfig.parity_rule` passes them); meanings and defaults:
    :class:`ParityOptions`."""

    global_merges: float
    global_schedule: Schedule
    premium_cap: float
    reference_lang: str
    reference_in_global: bool
    global_floor: float


class ParityArgs(ParityRule):
    """The keyword arguments both parity-aware trainers take (:func:`train_parity_bpe`, ``train_parity_fast``)."""

    vocab_size: int
    special_tokens: tuple[str, ...]
    initial_alphabet: NotRequired[str]
    min_frequency: NotRequired[int]


@dataclass(frozen=True, kw_only=True, slots=True)
class ParityOptions:
    """:class:`ParityArgs` with their defaults, checked (:func:`check_global`): what both trainers read."""

    vocab_size: int
    """Final vocabulary size, specials included."""
    special_tokens: tuple[str, ...]
    """Ids 0.. in order."""
    initial_alphabet: str = ""
    """Characters given an id even when absent (the 256 byte symbols)."""
    min_frequency: int = 2
    """A language whose best pair occurs fewer times stops being chosen (for good, even if later merges create new
    pairs in it); training stops when no language has such a pair."""
    global_merges: float = 0.0
    """Share of the planned merges chosen as the top pair overall (0: all parity-aware; 1: plain BPE on the summed
    training words)."""
    global_schedule: Schedule = "first"
    """Where the global merges go: ``first``, ``last`` or ``interleave`` (:func:`is_global_step`)."""
    premium_cap: float = 0.0
    """> 0 (with ``global_merges`` = 0): a merge is the worst language's top pair while its dev tokens exceed this x
    the reference's, else the top pair overall (the module docstring)."""
    reference_lang: str = "eng"
    """The premium cap's reference language."""
    reference_in_global: bool = True
    """False: the reference language's words do not count in the top pair overall (it gains from the merges it
    shares with the others; with the cap it is never chosen either)."""
    global_floor: float = 0.0
    """> 0: a language whose dev text takes fewer than this x the reference's tokens leaves the top pair overall's
    counts until it is back above (:func:`global_members`, checked before every merge)."""

    def __post_init__(self) -> None:
        check_global(self.global_merges, self.global_schedule, self.premium_cap, self.global_floor)


@dataclass(slots=True)
class GlobalMerges:
    """The hybrid's global merges, as both trainers choose them: whether the top pair overall is still counted
    (``on``) and how many merges took it (``n``)."""

    opt: ParityOptions
    on: bool = field(init=False)
    n: int = 0

    def __post_init__(self) -> None:
        self.on = self.opt.global_merges > 0.0 or self.opt.premium_cap > 0.0

    def chooses(self, step: int, planned: int, dev_tokens: Sequence[int] | np.ndarray, worst: int, ref: int, with_dev: Sequence[int]) -> bool:
        """Whether merge ``step`` is the top pair overall: with the premium cap while ``worst`` (the worst
        compressed active language, -1: none) is not over it, else by the schedule (:func:`is_global_step`). A
        parity step after the ``first`` schedule's global ones ends the overall counts for good (``on``)."""
        if not self.on:
            return False
        if self.opt.premium_cap > 0.0:
            return worst < 0 or not over_cap(dev_tokens, worst, ref, with_dev, self.opt.premium_cap)
        if is_global_step(step, self.opt.global_merges, self.opt.global_schedule, planned):
            return True
        if self.opt.global_schedule == "first":
            self.on = False  # the global phase is over: stop counting pairs overall
        return False

    def exhausted(self) -> None:
        """No pair overall occurs ``min_frequency`` times: the remaining merges are parity-aware."""
        log.info("parity bpe: no pair overall occurs %d times; the remaining merges are parity-aware", self.opt.min_frequency)
        self.on = False


def global_step_count(global_merges: float, schedule: Schedule, planned: int) -> int:
    """How many of the ``planned`` merges are global (``first``, ``last``; ``interleave`` differs by at most one)."""
    return round(global_merges * max(planned, 0))


def is_global_step(step: int, global_merges: float, schedule: Schedule, planned: int) -> bool:
    """Whether merge number ``step`` (0-based) is chosen as the top pair overall (see the module docstring)."""
    if global_merges <= 0.0:
        return False
    if global_merges >= 1.0:
        return True
    if schedule == "first":
        return step < global_step_count(global_merges, schedule, planned)
    if schedule == "last":
        return step >= planned - global_step_count(global_merges, schedule, planned)
    if schedule == "interleave":
        return int((step + 1) * global_merges) > int(step * global_merges)
    raise ValueError(f"global_schedule: unknown schedule {schedule!r} (first, last, interleave)")


def reference_tokens(dev_tokens: Sequence[int] | np.ndarray, ref: int, with_dev: Sequence[int]) -> int:
    """The reference language's dev tokens (``ref`` < 0: the median, lower middle, of the languages ``with_dev``)."""
    return int(dev_tokens[ref] if ref >= 0 else sorted(dev_tokens[li] for li in with_dev)[(len(with_dev) - 1) // 2])


def over_cap(dev_tokens: Sequence[int] | np.ndarray, worst: int, ref: int, with_dev: Sequence[int], premium_cap: float) -> bool:
    """Whether language ``worst`` takes more than ``premium_cap`` x the reference's dev tokens, i.e. the premium
    cap's step is parity-aware."""
    return int(dev_tokens[worst]) > premium_cap * reference_tokens(dev_tokens, ref, with_dev)


def global_members(dev_tokens: Sequence[int] | np.ndarray, ref: int, with_dev: Sequence[int], skip: int, global_floor: float) -> list[bool]:
    """Whose train words the top pair overall counts: every language but ``skip``; with ``global_floor`` > 0 a
    language with dev text only while it takes at least ``global_floor`` x the reference's dev tokens (unless that
    leaves no language in)."""
    out = [li != skip for li in range(len(dev_tokens))]
    if global_floor > 0.0 and with_dev:
        base = global_floor * reference_tokens(dev_tokens, ref, with_dev)
        floored = list(out)
        for li in with_dev:
            floored[li] = out[li] and int(dev_tokens[li]) >= base
        if any(floored):  # a floor that left every language out would end the global merges for good: none then
            out = floored
    return out


def cap_reference(langs: Sequence[str], dev: Mapping[str, Mapping[str, int]], reference_lang: str) -> tuple[int, list[int]]:
    """The reference language's index for :func:`over_cap` (-1 when it has no dev text) and the languages with dev
    text."""
    with_dev = [li for li, lang in enumerate(langs) if dev.get(lang)]  # the languages that start active
    ref = langs.index(reference_lang) if reference_lang in langs and langs.index(reference_lang) in with_dev else -1
    if ref < 0:
        log.info("parity bpe: %r has no dev text; the premium cap is relative to the median language", reference_lang)
    return ref, with_dev


def train_parity_bpe(
    train: Mapping[str, Mapping[str, int]], dev: Mapping[str, Mapping[str, int]] | None = None, **args: Unpack[ParityArgs]
) -> tuple[dict[str, int], list[tuple[str, str]], dict]:
    """Train parity-aware BPE (or the hybrid, with ``global_merges`` > 0 or ``premium_cap`` > 0).

    Args:
        train: language → {word: count} (pre-tokenized byte-level words; no token spans two words).
        dev: language → {word: count} of the parallel dev text; None: ``train`` itself is the dev set.
        **args: the keywords of :class:`ParityArgs` (defaults and meanings: :class:`ParityOptions`).

    Returns:
        ``(vocab, merges, stats)``; ``stats["chosen"]`` counts how many merges each language chose,
        ``stats["global"]`` how many were global.
    """
    opt = ParityOptions(**args)
    t0 = time.perf_counter()
    langs, dev, alphabet = prepare(train, dev, opt.initial_alphabet)
    id_to_str = build_initial_vocab(opt.special_tokens, alphabet)
    str_to_id = {s: i for i, s in enumerate(id_to_str)}
    planned = opt.vocab_size - len(id_to_str)

    # Entries: (tokens, count, language index, is_train). Dev entries only count tokens; train entries count pairs.
    toks: list[list[str]] = []
    meta: list[tuple[int, int, bool]] = []
    for li, lang in enumerate(langs):
        for table, is_train in ((train[lang], True), (dev.get(lang, {}), False)):
            for w, c in table.items():
                if c > 0 and w:
                    toks.append(list(w))
                    meta.append((c, li, is_train))
    pair_counts: list[dict[tuple[str, str], int]] = [{} for _ in langs]
    overall: dict[tuple[str, str], int] = {}  # every language's train words summed (the global merges' counts)
    glob = GlobalMerges(opt)
    ref, with_dev = cap_reference(langs, dev, opt.reference_lang)
    skip = -1 if opt.reference_in_global else ref  # the language the overall counts leave out
    where: dict[tuple[str, str], set[int]] = {}
    dev_tokens = [0] * len(langs)
    for e, (t, (c, li, is_train)) in enumerate(zip(toks, meta)):
        for p in itertools.pairwise(t):
            where.setdefault(p, set()).add(e)
        if is_train:
            pc = pair_counts[li]
            for p in itertools.pairwise(t):
                pc[p] = pc.get(p, 0) + c
        else:
            dev_tokens[li] += len(t) * c
    member = global_members(dev_tokens, ref, with_dev, skip, opt.global_floor)
    for li, pc in enumerate(pair_counts):
        if glob.on and member[li]:
            for p, n in pc.items():
                overall[p] = overall.get(p, 0) + n
    ids = str_to_id
    heaps = [[(-n, ids[p[0]], ids[p[1]], p) for p, n in pc.items()] for pc in pair_counts]
    for h in heaps:
        heapq.heapify(h)
    gheap = [(-n, ids[p[0]], ids[p[1]], p) for p, n in overall.items()]
    heapq.heapify(gheap)
    active = [lang in dev and bool(dev[lang]) for lang in langs]
    merges: list[tuple[str, str]] = []
    chosen = {lang: 0 for lang in langs}
    stop = "vocab_size"
    while len(str_to_id) < opt.vocab_size:
        if opt.global_floor > 0.0 and glob.on:
            now = global_members(dev_tokens, ref, with_dev, skip, opt.global_floor)
            for li in (li for li in range(len(langs)) if now[li] != member[li]):
                for p, n in pair_counts[li].items():
                    if n:
                        overall[p] = overall.get(p, 0) + (n if now[li] else -n)
                        heapq.heappush(gheap, (-overall[p], ids[p[0]], ids[p[1]], p))
            member = now
        worst = -1
        if opt.premium_cap > 0.0:
            cand = [li for li in range(len(langs)) if active[li]]
            worst = max(cand, key=lambda li: (dev_tokens[li], -li)) if cand else -1
        if glob.chooses(len(merges), planned, dev_tokens, worst, ref, with_dev):
            best = _top(gheap, overall)
            if best is None or overall[best] < max(1, opt.min_frequency):
                glob.exhausted()
                continue
            glob.n += 1
        else:
            cand = [li for li in range(len(langs)) if active[li]]
            if not cand:
                stop = "min_frequency"
                break
            worst = max(cand, key=lambda li: (dev_tokens[li], -li))
            top = _top(heaps[worst], pair_counts[worst])
            if top is None or pair_counts[worst][top] < opt.min_frequency:
                log.info("parity bpe: %s has no pair left occurring %d times", langs[worst], opt.min_frequency)
                active[worst] = False  # nothing left to merge for this language; the next worst one chooses
                continue
            best = top
            chosen[langs[worst]] += 1
        left, right = best
        new = left + right
        if new not in str_to_id:
            str_to_id[new] = len(id_to_str)
            id_to_str.append(new)
        merges.append(best)
        for e in list(where.pop(best, ())):
            c, li, is_train = meta[e]
            old = toks[e]
            out = merge_pair(old, best, new)  # left to right, without overlap (as operators.bpe)
            toks[e] = out
            for p in itertools.pairwise(out):
                where.setdefault(p, set()).add(e)
            if not is_train:
                dev_tokens[li] -= (len(old) - len(out)) * c
                continue
            pc = pair_counts[li]
            in_overall = glob.on and member[li]
            for p in itertools.pairwise(old):
                pc[p] -= c
                if in_overall:
                    overall[p] -= c
            for p in itertools.pairwise(out):
                pc[p] = pc.get(p, 0) + c
                if in_overall:
                    overall[p] = overall.get(p, 0) + c
            for p in set(itertools.pairwise(out)) | set(itertools.pairwise(old)):
                heapq.heappush(heaps[li], (-pc.get(p, 0), ids[p[0]], ids[p[1]], p))
                if in_overall:
                    heapq.heappush(gheap, (-overall.get(p, 0), ids[p[0]], ids[p[1]], p))
        for pc in (*pair_counts, overall):
            pc.pop(best, None)
    stats = {
        "engine": "tokenmill parity-aware bpe v1",
        "vocab_size": len(str_to_id),
        "merges": len(merges),
        "stop_reason": stop,
        "chosen": chosen,
        "global": glob.n,
        "dev_tokens": dict(zip(langs, dev_tokens)),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return str_to_id, merges, stats


def prepare(
    train: Mapping[str, Mapping[str, int]], dev: Mapping[str, Mapping[str, int]] | None, initial_alphabet: str
) -> tuple[list[str], Mapping[str, Mapping[str, int]], set[str]]:
    """What both trainers start from: the languages (sorted), the dev set (``train`` when None) and the alphabet."""
    dev = train if dev is None else dev
    alphabet = set(initial_alphabet)
    for table in (*train.values(), *dev.values()):
        for w in table:
            alphabet.update(w)
    return sorted(train), dev, alphabet


def check_global(global_merges: float, global_schedule: str, premium_cap: float = 0.0, global_floor: float = 0.0) -> None:
    """Raise ValueError (naming the key) unless the hybrid settings are valid."""
    if not 0.0 <= global_floor <= max(premium_cap, 1.0):
        raise ValueError(f"global_floor: 0 (off) up to premium_cap (or 1), got {global_floor}")
    if premium_cap != 0.0 and (premium_cap < 1.0 or global_merges > 0.0):
        raise ValueError(f"premium_cap: 0 (off) or >= 1 with global_merges=0, got {premium_cap} (global_merges={global_merges})")
    if not 0.0 <= global_merges <= 1.0:
        raise ValueError(f"global_merges: a share of the merges in [0, 1], got {global_merges}")
    if global_schedule not in ("first", "last", "interleave"):
        raise ValueError(f"global_schedule: first, last or interleave, got {global_schedule!r}")


def _top(heap: list, pc: dict) -> tuple[str, str] | None:
    """The pair with the highest current count (lazy heap: stale entries are dropped on the way)."""
    while heap:
        neg, _, _, p = heap[0]
        if pc.get(p, 0) == -neg and -neg > 0:
            return p
        heapq.heappop(heap)
    return None
