"""Pure-Python reference BPE trainer (minbpe style): the oracle the fast and distributed trainers are tested against.

It recounts every pair from scratch at every step, so it is slow (O(corpus x merges)) but easy to check by eye.
The semantics it defines (shared by :mod:`operators.bpe.fast_trainer` and :mod:`operators.bpe.distributed_trainer`):

* Ids: the special tokens first (in the given order), then the alphabet — every character of the corpus plus
  ``initial_alphabet`` — sorted by code point, then one id per newly created token string, in creation order.
  This is the layout of HF ``tokenizers``' ``BpeTrainer`` (DNABERT-2: [UNK]=0 ... [MASK]=4, A=5, C=6, G=7, T=8).
* A sequence is one "word": pairs never span two sequences. A sequence with count ``c`` adds ``c`` per pair
  occurrence; overlapping occurrences count (``AAA`` holds the pair (A, A) twice), as in minbpe and HF.
* Each step merges the pair with the highest count; **ties go to the smallest (left id, right id)**, i.e. the
  pair whose tokens were created first — HF ``BpeTrainer``'s rule, so on corpora without re-created strings the
  merges equal HF's.
* A merge replaces the occurrences left to right, without overlap (``AAA`` -> ``AA A``).
* If the merged string is already a token (e.g. ``AA+A`` and later ``A+AA``), the existing id is reused and
  the vocabulary does not grow; the merge is still recorded.
* Training stops when the vocabulary (specials included) reaches ``vocab_size``, when the best count is
  below ``min_frequency``, or when no pair is left. Pairs whose merged string would be longer than
  ``max_token_length`` characters are never counted.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def build_initial_vocab(special_tokens: Iterable[str], alphabet: Iterable[str]) -> list[str]:
    """Return the id -> string list before any merge: specials, then the alphabet sorted by code point."""
    id_to_str: list[str] = []
    seen: set[str] = set()
    for tok in special_tokens:
        if tok not in seen:
            seen.add(tok)
            id_to_str.append(tok)
    for ch in sorted(set(alphabet)):
        # An alphabet character that is also a special token keeps the special's id (as HF does).
        if ch not in seen:
            seen.add(ch)
            id_to_str.append(ch)
    return id_to_str


def train_reference(
    table: Mapping[str, int] | Iterable[tuple[str, int]],
    *,
    vocab_size: int,
    min_frequency: int = 2,
    special_tokens: Iterable[str] = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"),
    initial_alphabet: Iterable[str] = (),
    max_token_length: int | None = None,
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Train BPE on a table of (sequence, count) and return ``(merges, vocab)``.

    Args:
        table: mapping or pairs ``sequence -> count`` (counts of the same sequence add up).
        vocab_size: final vocabulary size, special tokens included.
        min_frequency: stop when the best pair occurs fewer times than this.
        special_tokens: tokens given the first ids; never produced by merges.
        initial_alphabet: characters that get an id even if the corpus lacks them.
        max_token_length: longest token (in characters) a merge may create; None = no limit.

    Returns:
        ``merges``: the ordered list of merged pairs as strings; ``vocab``: string -> id.
    """
    # 1. Aggregate the table: identical sequences just add their counts.
    counts: Counter[str] = Counter()
    items = table.items() if isinstance(table, Mapping) else table
    for seq, count in items:
        if count > 0 and seq:
            counts[seq] += count

    # 2. The initial vocabulary: specials, then every character seen (plus the initial alphabet), sorted.
    alphabet = set(initial_alphabet)
    for seq in counts:
        alphabet.update(seq)
    id_to_str = build_initial_vocab(special_tokens, alphabet)
    str_to_id = {s: i for i, s in enumerate(id_to_str)}

    # 3. Each sequence becomes a list of single-character token ids.
    words = [([str_to_id[ch] for ch in seq], count) for seq, count in counts.items()]

    merges: list[tuple[str, str]] = []
    while len(str_to_id) < vocab_size:
        # 4. Count every adjacent pair, weighted by the sequence count (overlaps included).
        stats: Counter[tuple[int, int]] = Counter()
        for ids, count in words:
            for pair in itertools.pairwise(ids):
                if max_token_length is None or len(id_to_str[pair[0]]) + len(id_to_str[pair[1]]) <= max_token_length:
                    stats[pair] += count
        if not stats:
            break  # every sequence is a single token

        # 5. The best pair: highest count, then the smallest (left id, right id).
        best = min(stats, key=lambda p: (-stats[p], p[0], p[1]))
        if stats[best] < min_frequency:
            break

        # 6. The new token: reuse the id of an existing identical string, else append one.
        new_str = id_to_str[best[0]] + id_to_str[best[1]]
        new_id = str_to_id.get(new_str)
        if new_id is None:
            new_id = len(id_to_str)
            id_to_str.append(new_str)
            str_to_id[new_str] = new_id
        merges.append((id_to_str[best[0]], id_to_str[best[1]]))

        # 7. Replace the occurrences in every sequence, left to right, without overlap.
        words = [(merge_pair(ids, best, new_id), count) for ids, count in words]
    return merges, str_to_id


def merge_pair(seq: list[T], pair: tuple[T, T], new: T) -> list[T]:
    """Return ``seq`` with each non-overlapping occurrence of ``pair`` (scanned left to right) replaced by ``new``:
    one merge, as every trainer here applies it (ids or strings)."""
    out: list[T] = []
    i = 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def apply_merges(sequence: str, merges: list[tuple[str, str]]) -> list[str]:
    """Segment ``sequence`` by applying ``merges`` in rank order, each over the whole sequence (the readable way)."""
    pieces = list(sequence)
    for left, right in merges:
        if len(pieces) < 2:
            break
        pieces = merge_pair(pieces, (left, right), left + right)
    return pieces
