"""C4 rules: junk lines removed from the kept text, documents dropped by lorem ipsum, curly brackets, few sentences."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.quality import QualityConfig
from tokenmill.operators.quality.c4 import C4Filter, check_c4
from tokenmill.operators.quality.marks import Drop
from tokenmill.operators.quality.words import WordSplitter

from .helpers import prose_lines

SPLIT = WordSplitter()
FINEWEB = QualityConfig(preset="fineweb")  # C4 without the terminal-punctuation rule
C4 = QualityConfig(preset="c4")


def _check(text: str, cfg: QualityConfig = FINEWEB):
    return check_c4(text, cfg.c4, cfg.c4_terminal_punct, SPLIT)


def test_junk_lines_are_removed_from_the_text():
    good = prose_lines(6)
    text = "\n".join(
        [
            "  " + good[0] + "  ",
            "Please enable JavaScript to view the comments.",
            good[1] + " [1][citation needed]",
            "Home About",  # two words
            "By using this site you accept our Privacy Policy and terms.",
            "This site uses cookies to improve your experience.",
            "A line with a " + "x" * 1001 + " word in it.",
            *good[2:],
            "no terminal punctuation here at all",
        ]
    )
    assert _check(text) == "\n".join([good[0], good[1] + " ", *good[2:], "no terminal punctuation here at all"]).strip()
    # the c4 preset also drops lines without terminal punctuation (and those ending in "...")
    assert _check(text + "\nand this one trails off...", C4) == "\n".join([good[0], *good[2:]])


def test_document_rules_lorem_ipsum_and_curly_bracket():
    good = prose_lines(6)
    assert _check("\n".join([*good, "Lorem ipsum dolor sit amet, consectetur."])) == Drop("lorem_ipsum", 1.0)
    assert _check("\n".join([*good, "function f() { return 1; } is code."])) == Drop("curly_bracket", 1.0)
    # a line dropped before the rule is reached does not drop the document
    assert isinstance(_check("\n".join([*good, "lorem ipsum", "x{y"])), str)
    assert _check("\n".join([*good, "javascript: lorem ipsum is here"])) == Drop("lorem_ipsum", 1.0)  # lorem first
    cfg = dataclasses.replace(FINEWEB, c4=dataclasses.replace(FINEWEB.c4, filter_lorem_ipsum=False, filter_curly_bracket=False))
    assert isinstance(_check("\n".join([*good, "Lorem ipsum dolor sit amet { x }."]), cfg), str)


def test_too_few_sentences():
    two = "First words here. Second sentence here!"  # two sentences on one line
    assert isinstance(_check("\n".join([two, two, "One more plain sentence."])), str)  # 5 sentences
    assert _check("\n".join([two, two])) == Drop("too_few_sentences", 4, 5)
    # quotes and "?!" after a terminal stay in its sentence; a new one starts at the next word (datatrove: 4 pieces)
    assert SPLIT.count_sentences('He said "stop." Then?! he left. ok') == 4
    assert SPLIT.count_sentences("Dr. Smith paid $5.50 at 3 p.m. for it.") == 1


def test_rules_switch_off():
    cfg = dataclasses.replace(
        FINEWEB, c4=dataclasses.replace(FINEWEB.c4, min_num_sentences=None, min_words_per_line=None, filter_javascript=False, filter_policy=False)
    )
    text = "Hi\nuse JavaScript\nthis site uses cookies"
    assert _check(text, cfg) == text


def test_removed_lines_are_counted_per_rule():
    good = prose_lines(6)
    text = "\n".join(
        [
            good[0],
            "Please enable JavaScript to view the comments.",
            good[1] + " [1][citation needed]",
            "Home About",
            "By using this site you accept our Privacy Policy and terms.",
            "This site uses cookies to improve your experience.",
            "A line with a " + "x" * 1001 + " word in it.",
            *good[2:],
            "no terminal punctuation here at all",
        ]
    )
    removed: dict[str, int] = {}
    assert isinstance(check_c4(text, FINEWEB.c4, FINEWEB.c4_terminal_punct, SPLIT, removed), str)
    assert removed == {"javascript": 1, "min_words_per_line": 1, "policy": 2, "max_word_length": 1}
    removed = {}
    check_c4(text, C4.c4, C4.c4_terminal_punct, SPLIT, removed)
    # with the terminal-punctuation rule, "Home About", the citation line and the last line go by that rule first
    assert removed == {"javascript": 1, "terminal_punct": 3, "policy": 2, "max_word_length": 1}
    removed = {}
    assert check_c4(text + "\nLorem ipsum dolor sit amet, consectetur.", FINEWEB.c4, False, SPLIT, removed) == Drop("lorem_ipsum", 1.0)
    assert removed == {}  # a dropped document's lines are not edits: it is not kept


def test_operator_counts_removed_lines_per_source():
    good = prose_lines(6)
    kept = "\n".join([*good, "Home About", "We use cookies on this site."])
    dropped = "\n".join(["Home About", *good[:2]])  # too few sentences
    batch = pa.table(
        {
            "source": ["a", "b", "a", "b"],
            "text": [kept, kept, dropped, "Please enable JavaScript.\n" + "\n".join(good)],
            "_reject_reason": [None, "invalid_utf8", None, None],
        }
    )
    op = C4Filter(IngestConfig(quality=FINEWEB))
    out = op(batch)
    assert out["_filter_reason"].to_pylist() == [None, None, "c4:too_few_sentences", None]
    assert op.receipt_counts() == {"c4_lines_min_words_per_line": {"a": 1}, "c4_lines_policy": {"a": 1}, "c4_lines_javascript": {"b": 1}}
