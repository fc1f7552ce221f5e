"""Merge units: which neighbouring base tokens may ever be merged, per boundary mode.

A *unit* is a run of tokens inside one row that dynamic merging may join; a new token never crosses a unit
boundary. Every mode starts a unit at each row start and isolates special tokens. Then:

* ``pretokens``: a unit is one base pre-token (the tokenizer's own pre-tokenizer, e.g. GPT-2's regex). A
  sentencepiece model has no pre-tokenizer of its own (its pieces only respect whitespace), so there this mode
  is the same as ``word``.
* ``word``: a unit is a run of whitespace plus the non-whitespace run that follows it: a boundary lies at each
  character where whitespace starts after non-whitespace.
* ``word_hyphen``: ``word``, and also where the text switches between punctuation/symbols (Unicode P* and S*)
  and anything else, except hyphens, which stay inside a word: ``well-known`` may merge, ``rights,`` may not.
* ``sentence``: no boundary inside a row (only the whitespace rule of ``DynamicBPE`` applies). With tokens that
  carry their spaces (GPT-2 ``Ġof``, sentencepiece ``▁of``) that rule already keeps words apart, so in practice
  this equals ``word`` for them. WordPiece surfaces carry no spaces at all, so for a BERT-style tokenizer this
  mode does join whole words (``the`` + ``right`` -> ``theright``).

A tokenizer.json whose pre-tokenizer does not split (e.g. ``Metaspace(split=False)`` of converted Llama models)
has one pre-token per row, so ``pretokens`` is as permissive as ``sentence`` there; ``word`` is the usual choice.

A boundary character at position ``p`` separates tokens ``i - 1`` and ``i`` when ``end[i-1] <= p <= start[i]``;
tokens that share one character (byte pieces of a multi-byte character) are never separated.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Sequence

import numpy as np

from operators.dynamic.base_tokenizer import EncodedBatch

BOUNDARIES = ("pretokens", "word", "word_hyphen", "sentence")
HYPHENS = frozenset("-\u2010\u2011")


def is_punct(ch: str) -> bool:
    """Punctuation or symbol, hyphens excepted (the ``word_hyphen`` character class)."""
    return ch not in HYPHENS and unicodedata.category(ch)[0] in "PS"


@functools.cache
def whitespace_table() -> np.ndarray:
    """bool per code point up to the last whitespace character (U+3000) and one more, which stands for all above:
    ``table[min(cp, len - 1)]`` is ``chr(cp).isspace()``."""
    last = max(cp for cp in range(0x110000) if chr(cp).isspace())
    return np.array([chr(cp).isspace() for cp in range(last + 2)], bool)


def unit_starts(batch: EncodedBatch, texts: Sequence[str], boundary: str) -> np.ndarray:
    """bool [N]: True where token ``i`` of the flat batch starts a new merge unit (vectorized).

    ``pretokens`` reads ``batch.pretoken_ids``; without them (sentencepiece) it falls back to ``word``.
    """
    n = len(batch.ids)
    starts = batch.special.copy()
    starts[1:] |= batch.special[:-1]
    row_first = batch.row_splits[:-1][np.diff(batch.row_splits) > 0]
    starts[row_first] = True
    if n == 0 or boundary == "sentence":
        return starts
    if boundary == "pretokens" and batch.pretoken_ids is not None:
        pid = batch.pretoken_ids
        starts[1:] |= pid[1:] != pid[:-1]
        return starts
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary {boundary!r} is not one of {BOUNDARIES}")
    if batch.offsets is None:
        raise ValueError(f"boundary {boundary!r} needs character offsets: encode_batch(texts, offsets=True)")
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    char0 = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(lengths, out=char0[1:])
    total = int(char0[-1])
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
    table = whitespace_table()
    ws = table[np.minimum(cps, len(table) - 1)]
    first_char = np.zeros(total + 1, bool)
    first_char[char0[:-1]] = True
    prev_ws = np.zeros(total, bool)
    prev_ws[1:] = ws[:-1]
    prev_ws &= ~first_char[:total]
    cut = ws & ~prev_ws
    if boundary == "word_hyphen":
        # Classify each distinct character once (a batch has a few hundred), then scatter.
        uniq, inverse = np.unique(cps, return_inverse=True)
        punct = np.array([is_punct(chr(c)) for c in uniq], bool)[inverse]
        switch = np.zeros(total, bool)
        switch[1:] = punct[1:] != punct[:-1]
        cut |= switch & ~first_char[:total]
    cum = np.zeros(total + 1, np.int64)  # cum[k] = cuts at positions < k
    np.cumsum(cut, out=cum[1:])
    row_of = np.repeat(np.arange(len(texts)), np.diff(batch.row_splits))
    base = char0[row_of]
    end_prev = batch.offsets[:-1, 1] + base[1:]  # end of token i-1 (same row checked via `starts` anyway)
    start = batch.offsets[1:, 0] + base[1:]
    last = char0[row_of[1:] + 1] - 1  # last character of the row
    hi = np.minimum(start, last)
    ok = (start >= end_prev) & (hi >= end_prev)
    hit = np.zeros(n - 1, bool)
    hit[ok] = cum[hi[ok] + 1] - cum[end_prev[ok]] > 0
    starts[1:] |= hit
    return starts
