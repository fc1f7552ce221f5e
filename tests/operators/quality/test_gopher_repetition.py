"""Gopher repetition rules at their thresholds (just under: kept, just over: dropped with the measured value)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmill.operators.quality import QualityConfig
from tokenmill.operators.quality.gopher_repetition import check_repetition, duplicate_ngram_chars, top_ngram_chars
from tokenmill.operators.quality.words import WordSplitter

from .helpers import only, prose_lines, words

SPLIT = WordSplitter()


def _check(text: str, cfg: QualityConfig):
    return check_repetition(text, cfg.gopher_repetition, SPLIT)


def test_duplicate_paragraph_fraction():
    cfg = only("gopher_repetition", dup_para_frac=0.3)
    paras = prose_lines(10)
    assert _check("\n\n".join(paras[:7] + [paras[0]] * 3), cfg) is None  # 3 of 10 = 0.3: not over
    drop = _check("\n\n".join(paras[:6] + [paras[0]] * 4), cfg)
    assert (drop.rule, drop.value, drop.threshold) == ("dup_para_frac", 0.4, 0.3)


def test_duplicate_paragraph_char_fraction():
    cfg = only("gopher_repetition", dup_para_char_frac=0.2)
    repeated = prose_lines(1, 12, 900)[0]
    keep = "\n\n".join([*prose_lines(3), repeated, repeated])
    assert len(repeated) / len(keep) == pytest.approx(0.1959, abs=1e-4) and _check(keep, cfg) is None
    text = "\n\n".join([*prose_lines(2), repeated, repeated])
    drop = _check(text, cfg)
    assert drop.rule == "dup_para_char_frac" and drop.value == pytest.approx(0.2452, abs=1e-4)
    assert drop.value == len(repeated) / len(text)


def test_duplicate_line_fraction_and_chars():
    lines = prose_lines(10)
    cfg = only("gopher_repetition", dup_line_frac=0.3)
    assert _check("\n".join(lines[:7] + [lines[1]] * 3), cfg) is None
    assert _check("\n".join(lines[:6] + [lines[1]] * 4), cfg).rule == "dup_line_frac"
    # blank lines do not count as lines (split at runs of newlines)
    assert _check("\n\n\n".join(lines[:7] + [lines[1]] * 3), cfg) is None
    cfg = only("gopher_repetition", dup_line_char_frac=0.2)
    repeated = prose_lines(1, 12, 900)[0]
    assert _check("\n".join([*prose_lines(3), repeated, repeated]), cfg) is None  # 0.198
    drop = _check("\n".join([*prose_lines(2), repeated, repeated]), cfg)
    assert drop.rule == "dup_line_char_frac" and drop.value == pytest.approx(0.2476, abs=1e-4)


@pytest.mark.parametrize(("k", "dropped"), [(13, False), (14, True)])
def test_top_2_gram(k, dropped):
    text = " ".join(words(60)) + " " + " ".join(["big gram"] * k)
    drop = _check(text, only("gopher_repetition", top_2_gram_frac=0.2))
    if not dropped:
        assert drop is None and 8 * k / len(text) == pytest.approx(0.1940, abs=1e-4)
    else:
        assert drop.rule == "top_2_gram" and drop.value == 8 * k / len(text) == pytest.approx(0.2055, abs=1e-4)


@pytest.mark.parametrize(("k", "dropped"), [(4, False), (5, True)])
def test_duplicated_5_grams(k, dropped):
    phrase = "alpha beta gamma delta omega"  # 24 characters without spaces
    text = " ".join(words(60)) + " " + " ".join([phrase] * k)
    drop = _check(text, only("gopher_repetition", dup_5_gram_frac=0.15))
    if not dropped:
        assert drop is None  # 3 repeats * 24 / 535 = 0.135
    else:
        assert drop.rule == "duplicated_5_n_grams" and drop.value == 24 * 4 / len(text) == pytest.approx(0.1702, abs=1e-4)


def test_defaults_report_the_first_rule_and_empty_text():
    cfg = QualityConfig()
    paras = prose_lines(4)
    assert _check("\n\n".join(paras * 3), cfg).rule == "dup_para_frac"
    assert _check("\n\n".join(prose_lines(20)), cfg) is None
    assert _check("", cfg).rule == "empty"


def test_ngram_measures_known_answers():
    assert top_ngram_chars(["x", "y", "x", "y"], 2) == 6  # "x y" twice
    assert top_ngram_chars(["ab", "c"], 3) == 0  # no 3-gram
    assert top_ngram_chars(["aa", "b", "c", "d"], 2) == 4  # all once: the first ("aa b") counts
    # repeated n-grams are skipped past, and compared concatenated: "ab"+"c" repeats "a"+"bc"
    assert duplicate_ngram_chars(["a", "b", "a", "b", "a", "b"], 2) == 4
    assert duplicate_ngram_chars(["ab", "c", "x", "a", "bc"], 2) == 3


def _top_reference(ws: list[str], n: int) -> int:
    """datatrove's definition, spelled out: the most common space-joined n-gram (first seen wins ties)."""
    grams = [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    if not grams:
        return 0
    best = max(dict.fromkeys(grams), key=grams.count)
    return len(best) * grams.count(best)


def _dup_reference(ws: list[str], n: int) -> int:
    seen: list[str] = []
    chars = i = 0
    while i < len(ws) - n + 1:
        gram = "".join(ws[i : i + n])
        if gram in seen:
            chars, i = chars + len(gram), i + n
        else:
            seen.append(gram)
            i += 1
    return chars


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ab", "ba", "abc", "c", "."]), max_size=40), st.integers(1, 6))
def test_ngram_measures_match_the_reference(ws, n):
    assert top_ngram_chars(ws, n) == _top_reference(ws, n)
    assert duplicate_ngram_chars(ws, n) == _dup_reference(ws, n)
