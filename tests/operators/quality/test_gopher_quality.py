"""Gopher quality rules at their thresholds (just under: kept, just over: dropped with the measured value)."""

from __future__ import annotations

import pytest

from tokenmill.operators.quality import QualityConfig
from tokenmill.operators.quality.gopher_quality import check_quality
from tokenmill.operators.quality.words import WordSplitter

from .helpers import only, prose_lines, sentence, words

SPLIT = WordSplitter()


def _check(text: str, cfg: QualityConfig):
    return check_quality(text, cfg.gopher_quality, SPLIT)


def _drop(text: str, cfg: QualityConfig) -> tuple:
    drop = _check(text, cfg)
    return (drop.rule, drop.value, drop.threshold) if drop else None


def test_word_count_bounds():
    cfg = only("gopher_quality", min_doc_words=50, max_doc_words=60)
    assert _check(sentence(50, 0), cfg) is None  # 50 words and a period: the period is not a word
    assert _drop(sentence(49, 0), cfg) == ("gopher_short_doc", 49, 50)
    assert _check(sentence(60, 0), cfg) is None
    assert _drop(sentence(61, 0), cfg) == ("gopher_long_doc", 61, 60)
    assert _drop("... --- !!! ,,,", QualityConfig())[0] == "gopher_short_doc"  # only symbol tokens: no words


def test_mean_word_length_bounds():
    cfg = only("gopher_quality", min_avg_word_length=3, max_avg_word_length=10)
    assert _check("ab abcd " * 30, cfg) is None  # mean exactly 3
    assert _drop("ab abcd " * 30 + "ab", cfg) == ("gopher_below_avg_threshold", pytest.approx(2.9836, abs=1e-4), 3)
    assert _check("abcdefghij " * 30, cfg) is None  # exactly 10
    assert _drop("abcdefghij " * 30 + "abcdefghijklm", cfg)[0] == "gopher_above_avg_threshold"


@pytest.mark.parametrize(("symbol", "rule"), [("#", "gopher_too_many_hashes"), ("...", "gopher_too_many_ellipsis"), ("…", "gopher_too_many_ellipsis")])
def test_symbols_per_token(symbol, rule):
    cfg = only("gopher_quality", max_symbol_word_ratio=0.1)
    assert _check(" ".join(words(90) + [symbol] * 10), cfg) is None  # 10 of 100 tokens
    assert _drop(" ".join(words(89) + [symbol] * 11), cfg) == (rule, 0.11, 0.1)


def test_bullet_and_ellipsis_lines():
    lines = prose_lines(20)
    cfg = only("gopher_quality", max_bullet_lines_ratio=0.9)
    bullets = ["- " + line if i < 9 else line for i, line in enumerate(lines[:10])]
    assert _check("\n".join(bullets), cfg) is None  # 9 of 10
    bullets = ["  • " + line if i < 19 else line for i, line in enumerate(lines)]
    assert _drop("\n".join(bullets), cfg) == ("gopher_too_many_bullets", 0.95, 0.9)
    cfg = only("gopher_quality", max_ellipsis_lines_ratio=0.3)
    trail = [line[:-1] + ("..." if i < 3 else ".") for i, line in enumerate(lines[:10])]
    assert _check("\n".join(trail), cfg) is None  # 3 of 10
    trail = [line[:-1] + ("…  " if i < 4 else ".") for i, line in enumerate(lines[:10])]
    assert _drop("\n".join(trail), cfg) == ("gopher_too_many_end_ellipsis", 0.4, 0.3)


def test_alphabetic_tokens_and_stop_words():
    cfg = only("gopher_quality", min_alpha_words_ratio=0.8)
    assert _check(" ".join(words(80) + ["1234"] * 20), cfg) is None  # 80 of 100
    assert _drop(" ".join(words(79) + ["1234"] * 21), cfg) == ("gopher_below_alpha_threshold", 0.79, 0.8)
    cfg = only("gopher_quality", min_stop_words=2)
    assert _check("the " + " ".join(words(20)) + " of", cfg) is None
    assert _drop("the " + " ".join(words(20)) + " the", cfg) == ("gopher_enough_stop_words", 1, 2)
    assert _drop("The " + " ".join(words(20)) + " Of", cfg) == ("gopher_enough_stop_words", 0, 2)  # case-sensitive


def test_defaults_keep_prose():
    assert _check("\n".join(prose_lines(8)), QualityConfig()) is None
