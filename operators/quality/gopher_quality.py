"""Gopher quality filter: drop documents whose words, symbols and lines do not look like prose.

The rules and their order are datatrove 0.10.1's ``GopherQualityFilter`` (Rae et al. 2021); the first rule broken
names the drop (``gopher_quality:<rule>``, rule names as datatrove's):

- ``gopher_short_doc`` / ``gopher_long_doc``: words (tokens with a character outside the punctuation set) outside
  ``min_doc_words..max_doc_words``;
- ``gopher_below_avg_threshold`` / ``gopher_above_avg_threshold``: their mean length outside
  ``min_avg_word_length..max_avg_word_length``;
- ``gopher_too_many_hashes`` / ``gopher_too_many_ellipsis``: ``#`` / ``...`` + ``…`` per token over
  ``max_symbol_word_ratio`` (per token: punctuation tokens count here, as in datatrove);
- ``gopher_too_many_bullets`` / ``gopher_too_many_end_ellipsis``: lines starting with a bullet / ending with an
  ellipsis, as a share of lines;
- ``gopher_below_alpha_threshold``: tokens with an alphabetic character, as a share of tokens;
- ``gopher_enough_stop_words``: fewer distinct stop words (exact case) than ``min_stop_words``.

A threshold of null (or 0) switches its rule off, as in datatrove.
"""

from __future__ import annotations

from tokenmill.operators.quality.config import GopherQualityConfig
from tokenmill.operators.quality.marks import CheckFilter, Drop
from tokenmill.operators.quality.words import PUNCTUATION_SET, WordSplitter

STAGE = "gopher_quality"


def _is_word(token: str) -> bool:
    """A token with at least one character outside the punctuation set (Gopher's "non-symbol word")."""
    return any(ch not in PUNCTUATION_SET for ch in token)


def check_quality(text: str, cfg: GopherQualityConfig, splitter: WordSplitter) -> Drop | None:
    """The first quality rule ``text`` breaks, or None."""
    tokens = splitter.words(text)
    n_tokens = len(tokens)
    words = [t for t in tokens if _is_word(t)]
    n_words = len(words)
    if cfg.min_doc_words and n_words < cfg.min_doc_words:
        return Drop("gopher_short_doc", n_words, cfg.min_doc_words)
    if cfg.max_doc_words and n_words > cfg.max_doc_words:
        return Drop("gopher_long_doc", n_words, cfg.max_doc_words)
    if not n_words:  # rules below divide by the counts (datatrove fails here; only reachable with min_doc_words off)
        return Drop("gopher_short_doc", 0, cfg.min_doc_words)
    mean_len = sum(map(len, words)) / n_words
    if cfg.min_avg_word_length and mean_len < cfg.min_avg_word_length:
        return Drop("gopher_below_avg_threshold", mean_len, cfg.min_avg_word_length)
    if cfg.max_avg_word_length and mean_len > cfg.max_avg_word_length:
        return Drop("gopher_above_avg_threshold", mean_len, cfg.max_avg_word_length)
    if cfg.max_symbol_word_ratio:
        ratio = text.count("#") / n_tokens
        if ratio > cfg.max_symbol_word_ratio:
            return Drop("gopher_too_many_hashes", ratio, cfg.max_symbol_word_ratio)
        ratio = (text.count("...") + text.count("…")) / n_tokens
        if ratio > cfg.max_symbol_word_ratio:
            return Drop("gopher_too_many_ellipsis", ratio, cfg.max_symbol_word_ratio)
    lines = text.splitlines()
    if lines and cfg.max_bullet_lines_ratio:
        ratio = sum(1 for s in lines if s.lstrip().startswith(("•", "-"))) / len(lines)
        if ratio > cfg.max_bullet_lines_ratio:
            return Drop("gopher_too_many_bullets", ratio, cfg.max_bullet_lines_ratio)
    if lines and cfg.max_ellipsis_lines_ratio:
        ratio = sum(1 for s in lines if s.rstrip().endswith(("...", "…"))) / len(lines)
        if ratio > cfg.max_ellipsis_lines_ratio:
            return Drop("gopher_too_many_end_ellipsis", ratio, cfg.max_ellipsis_lines_ratio)
    if cfg.min_alpha_words_ratio:
        ratio = sum(1 for t in tokens if any(c.isalpha() for c in t)) / n_tokens
        if ratio < cfg.min_alpha_words_ratio:
            return Drop("gopher_below_alpha_threshold", ratio, cfg.min_alpha_words_ratio)
    # duplicates: this last rule and the filter class below have the shape of fineweb.py's (a ratio, its threshold, a
    # Drop; then STAGE and check, as every CheckFilter): each rule is datatrove's, written out in its order with its
    # own test (>, < or truthiness) and name, and the tests call check_quality itself.
    if cfg.min_stop_words:
        found = len(set(cfg.stop_words).intersection(tokens))
        if found < cfg.min_stop_words:
            return Drop("gopher_enough_stop_words", found, cfg.min_stop_words)
    return None


class GopherQualityFilter(CheckFilter[GopherQualityConfig]):
    """DOCUMENTS (+ reject columns) → the same rows, non-prose documents marked ``gopher_quality:<rule>``."""

    STAGE = STAGE

    def check(self, text: str) -> Drop | None:
        return check_quality(text, self.cfg, self.splitter)
