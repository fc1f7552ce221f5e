"""FineWeb quality filter: drop documents whose lines look like lists, menus or repeated boilerplate.

The rules and their order are datatrove 0.10.1's ``FineWebQualityFilter`` (Penedo et al. 2024), on the document's
non-blank lines (split at ``\\n``, not stripped); the first rule broken names the drop (``fineweb:<rule>``):

- ``empty``: no non-blank line;
- ``line_punct_ratio``: lines ending in a sentence-terminal character, as a share of lines, below ``line_punct_thr``
  (a share of exactly 0 is kept when ``line_punct_exclude_zero``);
- ``short_line_ratio``: lines of at most ``short_line_length`` characters, as a share of lines, over ``short_line_thr``;
- ``char_dup_ratio``: characters of lines equal to an earlier line over the text's characters without newlines,
  above ``char_duplicates_ratio``;
- ``list_ratio``: newlines per word token above ``new_line_ratio``.

In the ``fineweb`` preset it runs after C4, on the text C4 kept (as datatrove's chain does).
"""

from __future__ import annotations

from tokenmill.operators.quality.config import FineWebConfig
from tokenmill.operators.quality.gopher_repetition import duplicates
from tokenmill.operators.quality.marks import CheckFilter, Drop
from tokenmill.operators.quality.words import TERMINAL_PUNCTUATION, WordSplitter

STAGE = "fineweb"


def check_fineweb(text: str, cfg: FineWebConfig, splitter: WordSplitter) -> Drop | None:
    """The first FineWeb rule ``text`` breaks, or None."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return Drop("empty")
    n = len(lines)
    if cfg.line_punct_thr is not None:
        ratio = sum(1 for line in lines if line[-1] in TERMINAL_PUNCTUATION) / n  # = endswith(any terminal)
        if ratio < cfg.line_punct_thr and not (ratio == 0 and cfg.line_punct_exclude_zero):
            return Drop("line_punct_ratio", ratio, cfg.line_punct_thr)
    if cfg.short_line_thr is not None:
        ratio = sum(1 for line in lines if len(line) <= cfg.short_line_length) / n
        if ratio > cfg.short_line_thr:
            return Drop("short_line_ratio", ratio, cfg.short_line_thr)
    if cfg.char_duplicates_ratio is not None:
        ratio = duplicates(lines)[1] / (len(text) - text.count("\n"))
        if ratio > cfg.char_duplicates_ratio:
            return Drop("char_dup_ratio", ratio, cfg.char_duplicates_ratio)
    if cfg.new_line_ratio is not None:
        ratio = text.count("\n") / len(splitter.words(text))
        if ratio > cfg.new_line_ratio:
            return Drop("list_ratio", ratio, cfg.new_line_ratio)
    return None


class FineWebQualityFilter(CheckFilter[FineWebConfig]):
    """DOCUMENTS (+ reject columns) → the same rows, list-like or boilerplate documents marked ``fineweb:<rule>``."""

    STAGE = STAGE

    def check(self, text: str) -> Drop | None:
        return check_fineweb(text, self.cfg, self.splitter)
