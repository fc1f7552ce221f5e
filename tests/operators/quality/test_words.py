"""English word splitting as spaCy's blank ``en`` tokenizer does it (the cases were checked against spaCy 3.8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmill.operators.quality.words import PUNCTUATION_SET, TERMINAL_PUNCTUATION, WordSplitter, split_chunk

SPLIT = WordSplitter()

CASES = {
    "Hello, world!": ["Hello", ",", "world", "!"],
    "It's 5.5km away...": ["It", "'s", "5.5", "km", "away", "..."],
    "don't can't won't Don't": ["do", "n't", "ca", "n't", "wo", "n't", "Do", "n't"],
    "dont cannot gonna": ["do", "nt", "can", "not", "gon", "na"],
    "U.S. Mr. Smith e.g. Smith. A. AB.": ["U.S.", "Mr.", "Smith", "e.g.", "Smith", ".", "A.", "AB", "."],
    "well-known x--y 3-4 10:30 a/b": ["well", "-", "known", "x", "--", "y", "3", "-", "4", "10:30", "a", "/", "b"],
    "https://example.com/a/b?x=1. (see [1])": ["https://example.com/a/b?x=1", ".", "(", "see", "[", "1", "]", ")"],
    '#tag ok?! "quoted" £5 5$ ©2020': ["#", "tag", "ok", "?", "!", '"', "quoted", '"', "£", "5", "5", "$", "©", "2020"],
    "def f(): t.Any": ["def", "f", "(", "):", "t.", "Any"],  # special cases found inside a chunk (spaCy's second pass)
    "I'm they're we've it'll": ["I", "'m", "they", "'re", "we", "'ve", "it", "'ll"],
    "10am 3p.m. end.Start": ["10", "am", "3", "p.m.", "end", ".", "Start"],
    "a  b\n\tc \u00a0 d": ["a", "b", "c", "d"],
}


@pytest.mark.parametrize("text", list(CASES))
def test_known_tokenizations(text):
    assert SPLIT.words(text) == CASES[text]


def test_sentences():
    assert SPLIT.count_sentences("") == 0
    assert SPLIT.count_sentences("no terminal at all") == 1
    assert SPLIT.count_sentences("One. Two! Three? Four") == 4
    assert SPLIT.count_sentences("Wait... what. Yes") == 2  # "..." is one token, not a terminal
    assert SPLIT.count_sentences("End.  Next") == 2  # a double space is a whitespace token, and starts a sentence


def test_character_sets():
    assert {".", "!", "?", "。", "।", "؟"} <= TERMINAL_PUNCTUATION and "," not in TERMINAL_PUNCTUATION
    assert len(TERMINAL_PUNCTUATION) == 159
    assert {"#", "-", "…", "«", "\x00", "\x9f", "１"} <= PUNCTUATION_SET and not {"\t", "\n", "a", "2"} & PUNCTUATION_SET


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab.,'-:/()#$1 \n…’", max_size=12), max_size=12))
def test_cached_splitting_equals_the_reference(chunks):
    text = " ".join(chunks)
    fresh = [tok for chunk in text.split() for tok in split_chunk(chunk)]
    assert SPLIT.words(text) == fresh == SPLIT.words(text)  # a cold and a warm cache
    assert all(tok and not any(c.isspace() for c in tok) for tok in fresh)
    assert "".join(fresh) == "".join(text.split())  # splitting never loses or adds characters
