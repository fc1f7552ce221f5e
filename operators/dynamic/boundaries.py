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

:func:`unit_starts` reads the character offsets of an :class:`EncodedBatch` (vectorized numpy). For tokenizers
whose surfaces spell each row's UTF-8 bytes (GPT-2, sentencepiece with byte fallback and an identity normalizer)
:func:`surface_unit_starts` gets the same answer from the ids and the text alone, in one numba pass, without
computing offsets at all; it follows ``base_tokenizer._surface_offsets`` step by step.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numba import njit

from tokenmill.operators.dynamic.base_tokenizer import EncodedBatch

Boundary = Literal["pretokens", "word", "word_hyphen", "sentence"]
BOUNDARIES: tuple[Boundary, ...] = ("pretokens", "word", "word_hyphen", "sentence")
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


WHITESPACE, PUNCT = np.uint8(1), np.uint8(2)  # bits of a character class table


@functools.cache
def char_classes(hyphen: bool) -> np.ndarray:
    """uint8 class bits per code point, ``table[min(cp, len - 1)]``: WHITESPACE, and with ``hyphen`` PUNCT (then
    the table covers every code point; built once per process, about 0.3 s)."""
    ws = whitespace_table()
    if not hyphen:
        return ws.astype(np.uint8) * WHITESPACE
    table = np.zeros(0x110000, np.uint8)
    table[: len(ws) - 1] = ws[:-1] * WHITESPACE
    table[[cp for cp in range(0x110000) if is_punct(chr(cp))]] |= PUNCT
    return table


@njit(cache=True)
def surface_unit_starts(
    ids: np.ndarray,
    row_splits: np.ndarray,
    special: np.ndarray,
    nbytes_of: np.ndarray,
    text: np.ndarray,
    row_chars: np.ndarray,
    shift: int,
    verify: bool,
    classes: np.ndarray,
    hyphen: bool,
):
    """``unit_starts`` for ``word`` (``hyphen=False``) or ``word_hyphen``, from surface lengths instead of offsets.

    Args:
        ids: int32 [N] token ids; row_splits: int64 [rows + 1]; special: bool [N] special tokens.
        nbytes_of: int64 surface length in bytes of every id.
        text: uint8 UTF-8 of all rows' texts concatenated; row_chars: int64 [rows] characters per row.
        shift: bytes of dummy prefix before each row's text (sentencepiece's "▁").
        verify: check first that no special token occurs and each row's surfaces add up to its bytes (the
            condition for byte-level BPE); when not, return ok=False and let the caller use real offsets.
        classes: :func:`char_classes` table.
        hyphen: also cut where the text switches between punctuation/symbols and anything else.

    Returns:
        (starts bool [N], ok).
    """
    n, rows, n_bytes = len(ids), len(row_splits) - 1, len(text)
    starts = np.zeros(n, np.bool_)
    # Characters: index of each byte's character, byte where each character starts, class of each character.
    char_of = np.empty(n_bytes + 1, np.int64)
    n_chars = 0
    for b in range(n_bytes):
        n_chars += (text[b] & 0xC0) != 0x80
        char_of[b] = n_chars - 1
    char_of[n_bytes] = n_chars
    char_byte = np.empty(n_chars + 1, np.int64)
    cls = np.zeros(n_chars, np.uint8)
    last_class = np.int64(len(classes) - 1)
    c = 0
    for b in range(n_bytes):
        lead = np.int64(text[b])
        if (lead & 0xC0) == 0x80:
            continue
        if lead < 0x80:
            cp, more = lead, 0
        elif lead < 0xE0:
            cp, more = lead & 0x1F, 1
        elif lead < 0xF0:
            cp, more = lead & 0x0F, 2
        else:
            cp, more = lead & 0x07, 3
        for k in range(1, more + 1):
            if b + k < n_bytes:
                cp = (cp << 6) | (np.int64(text[b + k]) & 0x3F)
        cls[c] = classes[min(cp, last_class)]
        char_byte[c] = b
        c += 1
    char_byte[n_chars] = n_bytes
    row_char0 = np.zeros(rows + 1, np.int64)
    for r in range(rows):
        row_char0[r + 1] = row_char0[r] + row_chars[r]
    if row_char0[rows] != n_chars:
        return starts, False
    if verify:
        e = 0
        for r in range(rows):
            for i in range(row_splits[r], row_splits[r + 1]):
                if special[i]:
                    return starts, False
                e += nbytes_of[ids[i]]
            if e != char_byte[row_char0[r + 1]]:
                return starts, False
    # cum[k] = number of boundary characters before character k.
    cum = np.zeros(n_chars + 1, np.int64)
    for r in range(rows):
        for p in range(row_char0[r], row_char0[r + 1]):
            inner = p > row_char0[r]
            ws = (cls[p] & WHITESPACE) != 0
            cut = ws and not (inner and (cls[p - 1] & WHITESPACE) != 0)
            if hyphen and inner and ((cls[p] & PUNCT) != 0) != ((cls[p - 1] & PUNCT) != 0):
                cut = True
            cum[p + 1] = cum[p] + cut
    # Token spans in characters, as base_tokenizer._surface_offsets computes them; then the boundary test.
    e = 0
    for r in range(rows):
        lo, hi = row_splits[r], row_splits[r + 1]
        tb0, tb1 = char_byte[row_char0[r]], char_byte[row_char0[r + 1]]
        last = row_char0[r + 1] - 1
        row_e0 = e
        end_prev = np.int64(0)
        for i in range(lo, hi):
            nb = nbytes_of[ids[i]]
            e += nb
            local_end = max(e - row_e0 - shift, 0)
            local_start = max(local_end - nb, 0)
            g_start = min(tb0 + local_start, tb1)
            g_end = min(tb0 + local_end, tb1)
            c_start = char_of[g_start]
            c_end = char_of[g_end - 1] + 1 if g_end > g_start else c_start
            if i == lo or special[i] or special[i - 1]:
                starts[i] = True
            else:
                top = min(c_start, last)
                if c_start >= end_prev and top >= end_prev:
                    starts[i] = cum[top + 1] - cum[end_prev] > 0
            end_prev = c_end
    return starts, True


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
