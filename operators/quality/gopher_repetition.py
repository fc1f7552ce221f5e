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


def _duplicate_units(unit: str, units: list[str], size: int, frac_limit: float | None, char_limit: float | None) -> Drop | None:
    """The ``dup_<unit>_frac`` and ``dup_<unit>_char_frac`` rules, in that order, on paragraphs or lines."""
    n_dup, dup_chars = duplicates(units)
    if frac_limit and n_dup / len(units) > frac_limit:
        return Drop(f"dup_{unit}_frac", n_dup / len(units), frac_limit)
    if char_limit and dup_chars / size > char_limit:
        return Drop(f"dup_{unit}_char_frac", dup_chars / size, char_limit)
    return None


def check_repetition(text: str, cfg: GopherRepetitionConfig, splitter: WordSplitter) -> Drop | None:
    """The first repetition rule ``text`` breaks, or None."""
    if not text:
        return Drop("empty")
    size = len(text)
    drop = _duplicate_units("para", _PARAGRAPHS.split(text.strip()), size, cfg.dup_para_frac, cfg.dup_para_char_frac)
    if drop is None:  # lines only when the paragraphs pass, as in Gopher's (and datatrove's) order
        drop = _duplicate_units("line", _LINES.split(text), size, cfg.dup_line_frac, cfg.dup_line_char_frac)
    if drop is not None:
        return drop
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
