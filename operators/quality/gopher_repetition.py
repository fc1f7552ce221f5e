"""Gopher repetition filter: drop documents made of repeated paragraphs, lines or word n-grams.

The rules and their order are datatrove 0.10.1's ``GopherRepetitionFilter`` (Rae et al. 2021, table A1); the first
rule over its limit names the drop (``gopher_repetition:<rule>``, rule names as datatrove's):

- ``dup_para_frac`` / ``dup_para_char_frac``: paragraphs (the stripped text split at runs of 2+ newlines) equal to an
  earlier one, as a share of paragraphs / their characters as a share of the text's characters;
- ``dup_line_frac`` / ``dup_line_char_frac``: the same for lines (split at runs of newlines);
- ``top_{2,3,4}_gram``: the most frequent word n-gram's characters (words joined by spaces) times its count;
- ``duplicated_{5..10}_n_grams``: characters of n-grams (words concatenated) seen before, scanning left to right and
  jumping past each repeated n-gram, so repeated text is counted once.

A threshold of null (or 0) switches its rule off, as in datatrove. Words come from
:mod:`operators.quality.words` (spaCy-compatible English splitting).
"""

from __future__ import annotations

import re
from collections import Counter

from tokenmill.operators.quality.config import GopherRepetitionConfig
from tokenmill.operators.quality.marks import CheckFilter, Drop
from tokenmill.operators.quality.words import WordSplitter

STAGE = "gopher_repetition"
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def duplicates(items: list[str]) -> tuple[int, int]:
    """(items equal to an earlier item, their characters)."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters of the most frequent word n-gram (joined by single spaces) times its count; 0 without n-grams."""
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n)))) if n > 1 else Counter((w,) for w in words)
    # Counter.most_common keeps first-seen order among equal counts, as datatrove's (string-keyed) Counter does;
    # tuples and space-joined strings are in one-to-one correspondence (words hold no spaces).
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def duplicate_ngram_chars(words: list[str], n: int) -> int:
    """Characters of word n-grams (concatenated without spaces) equal to an earlier one, skipping past each repeat."""
    seen: set[str] = set()
    chars = i = 0
    last = len(words) - n + 1
    while i < last:
        gram = "".join(words[i : i + n])  # concatenated, as datatrove keys them: "ab"+"c" equals "a"+"bc"
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def check_repetition(text: str, cfg: GopherRepetitionConfig, splitter: WordSplitter) -> Drop | None:
    """The first repetition rule ``text`` breaks, or None."""
    if not text:
        return Drop("empty")
    size = len(text)
    paragraphs = _PARAGRAPHS.split(text.strip())
    n_dup, dup_chars = duplicates(paragraphs)
    if cfg.dup_para_frac and n_dup / len(paragraphs) > cfg.dup_para_frac:
        return Drop("dup_para_frac", n_dup / len(paragraphs), cfg.dup_para_frac)
    if cfg.dup_para_char_frac and dup_chars / size > cfg.dup_para_char_frac:
        return Drop("dup_para_char_frac", dup_chars / size, cfg.dup_para_char_frac)
    # duplicates: the same two rules as for paragraphs above, on lines: written out in Gopher's (and datatrove's) order,
    # so each Drop names its own rule and a document stops at the first one it breaks.
    lines = _LINES.split(text)
    n_dup, dup_chars = duplicates(lines)
    if cfg.dup_line_frac and n_dup / len(lines) > cfg.dup_line_frac:
        return Drop("dup_line_frac", n_dup / len(lines), cfg.dup_line_frac)
    if cfg.dup_line_char_frac and dup_chars / size > cfg.dup_line_char_frac:
        return Drop("dup_line_char_frac", dup_chars / size, cfg.dup_line_char_frac)
    words = splitter.words(text)
    for n, limit in cfg.top_n_grams:
        if limit is None:  # datatrove always runs these; null switches one off here
            continue
        frac = top_ngram_chars(words, n) / size
        if frac > limit:
            return Drop(f"top_{n}_gram", frac, limit)
    for n, limit in cfg.dup_n_grams:
        if limit is None:
            continue
        frac = duplicate_ngram_chars(words, n) / size
        if frac > limit:
            return Drop(f"duplicated_{n}_n_grams", frac, limit)
    return None


class GopherRepetitionFilter(CheckFilter[GopherRepetitionConfig]):
    """DOCUMENTS (+ reject columns) → the same rows, repetitive documents marked ``gopher_repetition:<rule>``."""

    STAGE = STAGE

    def check(self, text: str) -> Drop | None:
        return check_repetition(text, self.cfg, self.splitter)
