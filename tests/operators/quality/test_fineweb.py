"""FineWeb quality rules at their thresholds (just under: kept, just over: dropped with the measured value)."""

from __future__ import annotations

import pytest

from tokenmill.operators.quality import QualityConfig
from tokenmill.operators.quality.fineweb import check_fineweb
from tokenmill.operators.quality.words import WordSplitter

from .helpers import only, prose_lines, words

SPLIT = WordSplitter()


def _check(text: str, cfg: QualityConfig):
    return check_fineweb(text, cfg.fineweb, SPLIT)


def _drop(text: str, cfg: QualityConfig) -> tuple | None:
    drop = _check(text, cfg)
    return (drop.rule, drop.value, drop.threshold) if drop else None


def _lines(n_punct: int, n: int = 100) -> str:
    """``n`` long lines, the first ``n_punct`` ending in terminal punctuation (one a CJK full stop)."""
    lines = [line[:-1] for line in prose_lines(n, 8)]
    return "\n".join(line + ("。" if i == 0 else ".") if i < n_punct else line for i, line in enumerate(lines))


def test_line_punctuation_ratio():
    cfg = only("fineweb", line_punct_thr=0.12)
    assert _check(_lines(12), cfg) is None  # 0.12 is not below 0.12
    assert _drop(_lines(11), cfg) == ("line_punct_ratio", 0.11, 0.12)
    assert _drop(_lines(0), cfg) == ("line_punct_ratio", 0.0, 0.12)
    assert _check(_lines(0), only("fineweb", line_punct_thr=0.12, line_punct_exclude_zero=True)) is None


def test_short_line_ratio():
    cfg = only("fineweb", short_line_thr=0.67)
    long_lines = prose_lines(33, 8)
    short = ["x" * 30] * 67  # at most 30 characters counts as short
    assert _check("\n".join(short + long_lines), cfg) is None
    assert _drop("\n".join([*short, "y" * 30, *long_lines[1:]]), cfg) == ("short_line_ratio", 0.68, 0.67)


def test_duplicate_line_characters():
    cfg = only("fineweb", char_duplicates_ratio=0.01)
    lines = prose_lines(30, 10)  # about 2,000 characters
    dup = "Dup."
    keep = "\n".join([*lines, dup, dup])
    assert 4 / (len(keep) - keep.count("\n")) < 0.01 and _check(keep, cfg) is None
    dup = "A repeated line of text."
    text = "\n".join([*lines, dup, dup, "", "   "])  # blank lines are not lines
    assert _drop(text, cfg) == ("char_dup_ratio", pytest.approx(len(dup) / (len(text) - text.count("\n"))), 0.01)


def test_newlines_per_word():
    cfg = only("fineweb", new_line_ratio=0.3)
    ws = words(100)
    ten = [" ".join(ws[i : i + 10]) for i in range(0, 100, 10)]
    assert _check("\n\n\n".join(ten), cfg) is None  # 27 newlines / 100 words
    assert _check("\n\n\n".join(ten) + "\n\n\n", cfg) is None  # 30: not over
    assert _drop("\n\n\n".join(ten) + "\n\n\n\n", cfg) == ("list_ratio", 0.31, 0.3)


def test_empty_and_defaults():
    assert _drop(" \n\t\n", QualityConfig()) == ("empty", None, None)
    assert _check("\n".join(prose_lines(10)), QualityConfig()) is None
