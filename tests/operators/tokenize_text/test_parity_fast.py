"""The fast parity-aware trainer (numba kernels) equals the pure-Python reference: vocabulary, merges, chosen
languages, dev token counts and stop reason — on random tie-heavy inputs (hypothesis: tiny alphabets, runs of
one character, dev sets that miss languages or add words, min_frequency 0..3, every regrowth
path) and on real UDHR text; the same for the hybrid (a share of global merges, both schedules) and the premium
cap (parity-aware only while the worst language is over the cap)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import END_OF_TEXT, ByteLevelConfig, ByteLevelPreTokenizer, byte_alphabet
from tokenmill.operators.tokenize_text.parity_bpe import train_parity_bpe
from tokenmill.operators.tokenize_text.parity_fast import train_parity_fast

WORDS = st.dictionaries(st.text("abc", min_size=0, max_size=9), st.integers(0, 6), max_size=12)
LANGS = st.dictionaries(st.sampled_from(["x", "y", "z", "w"]), WORDS, min_size=1, max_size=4)
INPUTS = {"train": LANGS, "dev": st.one_of(st.none(), LANGS), "vocab_size": st.integers(1, 40), "min_frequency": st.integers(0, 3)}
"""The drawn arguments both property tests share."""
MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(train, dev, **kw) -> dict:
    """Train both ways; assert equal results (timings and engine names aside); return the fast stats."""
    rv, rm, rs = train_parity_bpe(train, dev, **kw)
    fv, fm, fs = train_parity_fast(train, dev, **kw, slack=0.0)
    assert fm == rm
    assert fv == rv and list(fv) == list(rv)  # same ids, in the same order
    for key in ("vocab_size", "merges", "stop_reason", "chosen", "global", "dev_tokens"):
        assert fs[key] == rs[key], key
    return fs


@MANY
@given(
    **INPUTS,
    specials=st.sampled_from([(), ("<s>",), ("a", "<s>")]),
)
def test_equals_reference(train, dev, vocab_size, min_frequency, specials):
    _same(train, dev, vocab_size=vocab_size, special_tokens=specials, min_frequency=min_frequency)


@MANY
@given(
    **INPUTS,
    global_merges=st.sampled_from([0.1, 0.25, 0.5, 0.9, 1.0]),
    global_schedule=st.sampled_from(["first", "last", "interleave"]),
)
def test_hybrid_equals_reference(train, dev, vocab_size, min_frequency, global_merges, global_schedule):
    _same(train, dev, vocab_size=vocab_size, special_tokens=(), min_frequency=min_frequency, global_merges=global_merges, global_schedule=global_schedule)


@MANY
@given(
    **INPUTS,
    premium_cap=st.sampled_from([1.0, 1.1, 1.5, 3.0]),
    reference_lang=st.sampled_from(["x", "y", "eng"]),  # eng: absent, the median language is the reference
    reference_in_global=st.booleans(),
    global_floor=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
)
def test_premium_cap_equals_reference(train, dev, vocab_size, min_frequency, premium_cap, reference_lang, reference_in_global, global_floor):
    kw = dict(premium_cap=premium_cap, reference_lang=reference_lang, reference_in_global=reference_in_global, global_floor=global_floor)
    _same(train, dev, vocab_size=vocab_size, special_tokens=(), min_frequency=min_frequency, **kw)


@MANY
@given(**INPUTS, global_merges=st.sampled_from([0.25, 1.0]), reference_lang=st.sampled_from(["x", "eng"]))
def test_global_without_reference_equals_reference(train, dev, vocab_size, min_frequency, global_merges, reference_lang):
    kw = dict(global_merges=global_merges, reference_lang=reference_lang, reference_in_global=False)
    _same(train, dev, vocab_size=vocab_size, special_tokens=(), min_frequency=min_frequency, **kw)


def test_ties_everywhere():
    """Languages with the same dev token count (smallest index wins) and pairs with the same count (smallest
    (left, right) ids win), in every step."""
    train = {lg: {"abab": 2, "baba": 2, "cdcd": 2, "dcdc": 2} for lg in ("z", "y", "x")}
    stats = _same(train, None, vocab_size=30, special_tokens=(), min_frequency=1)
    assert stats["chosen"]["x"] >= stats["chosen"]["z"]


def test_regrowth_paths_run():
    """With no slack every array the kernels fill has to grow (or be compacted) along the way."""
    train = {lg: {w * k: k for k in range(1, 6) for w in ("ab", "ba", "abc", "cab", "bca")} for lg in "xyz"}
    stats = _same(train, None, vocab_size=60, special_tokens=(), min_frequency=1)
    assert all(stats["regrowths"][k] > 0 for k in ("count_slots", "where_slots", "node_rebuilds", "heaps"))


@pytest.fixture(scope="module")
def udhr_words(shared_data):
    files = ("eng.txt", "rus.txt", "hin.txt", "amh.txt", "vie.txt", "cmn_hans.txt")
    par = load_parallel([str(shared_data / "text/udhr" / f) for f in files])
    pre = ByteLevelPreTokenizer(ByteLevelConfig(marks=True))
    train = {lg: pre.count(lines[::2]) for lg, lines in par.items()}
    dev = {lg: pre.count(lines[1::2]) for lg, lines in par.items() if lg != "vie"}  # vie: no dev text
    return train, dev


@pytest.mark.parametrize(("global_merges", "schedule"), [(0.3, "first"), (0.4, "last"), (0.5, "interleave")])
def test_udhr_hybrid_equals_reference(udhr_words, global_merges, schedule):
    train, dev = udhr_words
    kw = dict(special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet(), min_frequency=2)
    stats = _same(train, dev, vocab_size=900, global_merges=global_merges, global_schedule=schedule, **kw)
    assert abs(stats["global"] - global_merges * (900 - 257)) <= 1 and stats["global"] + sum(stats["chosen"].values()) == stats["merges"]


@pytest.mark.parametrize(
    ("premium_cap", "reference_lang", "in_global", "floor"),
    [(1.2, "eng", False, 0.0), (1.2, "eng", True, 0.0), (1.0, "rus", False, 0.0), (1.3, "none", True, 0.0), (1.2, "eng", False, 1.0), (1.3, "none", True, 1.0)],
)
def test_udhr_premium_cap_equals_reference(udhr_words, premium_cap, reference_lang, in_global, floor):
    train, dev = udhr_words
    kw = dict(special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet(), min_frequency=1, reference_in_global=in_global, global_floor=floor)
    stats = _same(train, dev, vocab_size=900, premium_cap=premium_cap, reference_lang=reference_lang, **kw)
    assert 0 < stats["global"] < stats["merges"] and stats["global"] + sum(stats["chosen"].values()) == stats["merges"]
    assert (stats["floor_shifts"] > 0) == (floor > 0)  # languages did move in and out of the overall counts


@pytest.mark.parametrize("with_dev", [False, True])
def test_udhr_equals_reference(udhr_words, with_dev):
    train, dev = udhr_words
    stats = _same(train, dev if with_dev else None, vocab_size=1200, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet(), min_frequency=2)
    assert stats["merges"] >= 1200 - 257 - 100 and sum(stats["chosen"].values()) == stats["merges"]
    if with_dev:
        assert stats["chosen"]["vie"] == 0  # a language without dev text never chooses
