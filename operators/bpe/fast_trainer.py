"""Fast exact BPE trainer (in-process): numba kernels, incremental pair counts, same merges as the reference.

Per merge step only the pairs next to a merged occurrence change, so a step costs O(occurrences of the merged
pair) — the positions come from a per-pair position index — instead of a pass over the corpus. The best pair
comes from a max-heap with lazy invalidation. Semantics (ids, tie-break, overlaps, re-created strings, stop
rules) are those documented in :mod:`operators.bpe.reference`. :class:`Vocab`, :class:`TrainResult` and
:func:`merge_loop` are shared with :mod:`operators.bpe.distributed_trainer`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

import numpy as np

from tokenmill.operators.bpe.corpus import SeqTable, encode
from tokenmill.operators.bpe.kernel_state import CorpusPart
from tokenmill.operators.bpe.reference import build_initial_vocab
from tokenmill.operators.core.progress import Progress

log = logging.getLogger(__name__)

Best = tuple[int, int, int] | None  # (left id, right id, count) of the best pair, None when no pair is left


class Vocab:
    """The growing id <-> string table; knows when a merge re-creates an existing string."""

    def __init__(self, special_tokens: Iterable[str], alphabet: Iterable[str], vocab_size: int) -> None:
        self.id_to_str = build_initial_vocab(special_tokens, alphabet)
        self.str_to_id = {s: i for i, s in enumerate(self.id_to_str)}
        self.tlen = np.zeros(max(vocab_size, len(self.id_to_str)), np.int32)
        self.tlen[: len(self.id_to_str)] = [len(s) for s in self.id_to_str]

    def __len__(self) -> int:
        return len(self.id_to_str)

    def merge(self, a: int, b: int) -> tuple[int, bool]:
        """Id of the string ``a + b`` and whether it already existed."""
        s = self.id_to_str[a] + self.id_to_str[b]
        new = self.str_to_id.get(s)
        if new is not None:
            return new, True
        new = len(self.id_to_str)
        self.id_to_str.append(s)
        self.str_to_id[s] = new
        return new, False


@dataclass
class TrainResult:
    """What a trainer returns: the vocabulary, the merges (ids and counts) and why training stopped."""

    vocab: Vocab
    merges: list[tuple[int, int, int]] = field(default_factory=list)
    """(left id, right id, new id) in merge order."""
    merge_counts: list[int] = field(default_factory=list)
    stop_reason: str = "vocab_size"
    seconds: dict[str, float] = field(default_factory=dict)
    sequences: int = 0
    characters: int = 0
    tokens_after: int = 0

    @property
    def merge_strings(self) -> list[tuple[str, str]]:
        ids = self.vocab.id_to_str
        return [(ids[a], ids[b]) for a, b, _ in self.merges]


def merge_loop(result: TrainResult, best: Best, apply: Callable[[int, int, int, bool], Best], vocab_size: int, min_frequency: int) -> None:
    """Merge best pairs until the vocabulary is full, the best count < ``min_frequency`` or no pair is left.

    ``apply(a, b, new, is_dup)`` performs the merge on the corpus and returns the next best pair.
    """
    vocab = result.vocab
    with Progress(vocab_size - len(vocab), "BPE merges", unit="merge") as bar:
        while len(vocab) < vocab_size:
            if best is None:
                result.stop_reason = "no_pairs"
                return
            a, b, count = best
            if count < min_frequency:
                result.stop_reason = "min_frequency"
                return
            new, is_dup = vocab.merge(a, b)
            result.merges.append((a, b, new))
            result.merge_counts.append(count)
            best = apply(a, b, new, is_dup)
            bar.update()
    result.stop_reason = "vocab_size"


def settle_stop_reason(result: TrainResult) -> None:
    """After training: "no_pairs" only if every sequence is one token; otherwise the pairs left were all below
    min_frequency (the heap holds only eligible pairs) or longer than max_token_length -> "min_frequency"."""
    if result.stop_reason == "no_pairs" and result.tokens_after > result.sequences:
        result.stop_reason = "min_frequency"


def check_vocab_fits(vocab: Vocab, vocab_size: int, n_specials: int) -> None:
    """Raise the config error for a vocab_size below the alphabet + special tokens."""
    if vocab_size < len(vocab):
        raise ValueError(
            f"vocab_size={vocab_size} is below the alphabet ({len(vocab) - n_specials} characters) plus the "
            f"{n_specials} special tokens = {len(vocab)}; raise vocab_size to at least {len(vocab)}"
        )


def auto_keep_min(n_chars: int, vocab_size: int, min_frequency: int) -> int:
    """First pruning level: a guess below the last merge's count (DNA 4096: ~40 on 7.4 Mbp, grows with size).

    A wrong guess only costs one recount (see ``train_fast``); too low only costs memory.
    """
    return max(min_frequency, 1, n_chars // (max(vocab_size, 1) * 200))


class TrainArgs(TypedDict):
    """The training keyword arguments every trainer takes (:func:`train_fast`, ``train_distributed``, its
    ``coordinate`` and ``count_phase``), as :func:`operators.bpe.api.train_bpe` reads them from the config."""

    vocab_size: int
    min_frequency: int
    special_tokens: tuple[str, ...]
    initial_alphabet: NotRequired[Iterable[str]]
    max_token_length: NotRequired[int | None]


def train_fast(
    table: SeqTable,
    *,
    vocab_size: int,
    min_frequency: int,
    special_tokens: tuple[str, ...],
    initial_alphabet: Iterable[str] = (),
    max_token_length: int | None = None,
    keep_min: int | None = None,
    implicit_min: int | None = None,
) -> TrainResult:
    """Train on a :class:`~operators.bpe.corpus.SeqTable` in this process.

    New pairs counted below ``keep_min`` are not tracked (they can only shrink, so they cannot win while the best
    tracked count is >= ``keep_min``). When the best count falls below ``keep_min``, or a merge re-creates an
    existing string (the one way an untracked pair can grow), all pairs are recounted and pruning continues at
    ``min_frequency`` — the merges stay exactly those of the reference.
    """
    t0 = time.perf_counter()
    vocab = Vocab(special_tokens, table.alphabet() | set(initial_alphabet), vocab_size)
    check_vocab_fits(vocab, vocab_size, len(set(special_tokens)))
    corpus = encode(table, vocab.str_to_id, vocab_size)
    if keep_min is None:
        keep_min = auto_keep_min(corpus.n_chars, vocab_size, min_frequency)
    part = CorpusPart(corpus, vocab.tlen, vocab_size, max_token_length, keep_min=keep_min, implicit_min=implicit_min)
    part.build_heap(min_frequency)
    result = TrainResult(vocab, sequences=corpus.n_sequences, characters=corpus.n_chars)
    t1 = time.perf_counter()
    recounts = 0

    def recount(level: int) -> Best:
        nonlocal recounts
        recounts += 1
        part.rebuild(level)
        part.build_heap(min_frequency)
        return part.best(part.pushed, 0)

    def exact(best: Best) -> Best:
        if part.keep_min > min_frequency and (best is None or best[2] < part.keep_min):
            best = recount(min_frequency)  # an untracked pair may now tie or beat the best tracked one
        return best

    def apply(a: int, b: int, new: int, is_dup: bool) -> Best:
        _, n_pushed = part.apply(a, b, new, is_dup)
        if is_dup and part.keep_min > 1:
            return exact(recount(part.keep_min))  # an untracked pair next to the re-created token may have grown
        return exact(part.best(part.pushed, n_pushed))

    merge_loop(result, exact(part.best(part.pushed, 0)), apply, vocab_size, min_frequency)
    t2 = time.perf_counter()
    result.tokens_after = part.symbols()
    settle_stop_reason(result)
    result.seconds = {"count": t1 - t0, "merge": t2 - t1}
    log.info("trained %d merges in %.2fs (count %.2fs, %d recounts), stop: %s", len(result.merges), t2 - t0, t1 - t0, recounts, result.stop_reason)
    return result
