"""C4 filter: drop junk lines from a document, and drop documents with code, placeholder text or too little prose.

The rules and their order are datatrove 0.10.1's ``C4QualityFilter`` (from TFDS' ``c4_utils``), on the document's
lines (``str.splitlines``), each stripped:

1. a line with a whitespace-separated word longer than ``max_word_length`` is dropped;
2. citations (``[1]``, ``[edit]``, ``[citation needed]``) are removed from the line;
3. (``filter_no_terminal_punct``) a line not ending in ``. ? ! " '``, or ending in ``...``, is dropped;
4. a line with fewer than ``min_words_per_line`` words (counted before step 2) is dropped;
5. a line containing "lorem ipsum" drops the document (``c4:lorem_ipsum``);
6. a line containing "javascript" is dropped;
7. a line containing ``{`` drops the document (``c4:curly_bracket``);
8. a line containing a cookie / privacy / terms-of-use phrase is dropped;
9. the line is kept and its sentences counted (spaCy sentencizer rules, :mod:`operators.quality.words`).

Fewer than ``min_num_sentences`` sentences drops the document (``c4:too_few_sentences``). A kept document's text
becomes its kept lines joined by newlines, as datatrove writes it; later filters (FineWeb) see that text.

The lines removed from the documents it keeps are counted per rule and per source (``c4_lines_<rule>``: rules
``max_word_length``, ``terminal_punct``, ``min_words_per_line``, ``javascript``, ``policy``) into the stage's count
receipts, and from there into the ledger's ``text_edits``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from tokenmill.operators.quality.config import C4Config
from tokenmill.operators.quality.marks import FILTER_COLUMNS, Drop, apply_check
from tokenmill.operators.quality.words import WordSplitter, shared_splitter

if TYPE_CHECKING:
    from tokenmill.operators.core.ingest_config import IngestConfig

STAGE = "c4"
CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def check_c4(text: str, cfg: C4Config, terminal_punct: bool, splitter: WordSplitter, removed: dict[str, int] | None = None) -> Drop | str:
    """The document rule ``text`` breaks, or its text with the dropped lines removed (then ``removed``, when given,
    gets the number of lines each rule removed added to it)."""
    sentences = 0
    kept: list[str] = []
    gone: dict[str, int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if cfg.max_word_length is not None and any(len(w) > cfg.max_word_length for w in words):
            rule: Drop | str | None = "max_word_length"
        else:
            if cfg.remove_citations:
                line = CITATION.sub("", line)
            rule = _line_rule(line, len(words), cfg, terminal_punct)
        if isinstance(rule, Drop):
            return rule
        if rule is not None:
            gone[rule] = gone.get(rule, 0) + 1
            continue
        if cfg.min_num_sentences is not None:
            # datatrove cuts a line into sentences at the sentencizer's span ends and gets one piece even from an
            # empty line (a citation-only line, when min_words_per_line is off)
            sentences += max(1, splitter.count_sentences(line))
        kept.append(line)
    if cfg.min_num_sentences is not None and sentences < cfg.min_num_sentences:
        return Drop("too_few_sentences", sentences, cfg.min_num_sentences)
    if removed is not None:
        for name, n in gone.items():
            removed[name] = removed.get(name, 0) + n
    return "\n".join(kept).strip()


def _line_rule(line: str, n_words: int, cfg: C4Config, terminal_punct: bool) -> Drop | str | None:
    """The rule that removes ``line`` (citations already removed; ``n_words`` counted before), the document rule it
    breaks, or None to keep it."""
    if terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
        return "terminal_punct"
    if cfg.min_words_per_line is not None and n_words < cfg.min_words_per_line:
        return "min_words_per_line"
    lower = line.lower()
    if cfg.filter_lorem_ipsum and "lorem ipsum" in lower:
        return Drop("lorem_ipsum", 1.0)
    if cfg.filter_javascript and "javascript" in lower:
        return "javascript"
    if cfg.filter_curly_bracket and "{" in line:
        return Drop("curly_bracket", 1.0)
    if cfg.filter_policy and any(p in lower for p in POLICY_PHRASES):
        return "policy"
    return None


class C4Filter:
    """DOCUMENTS (+ reject columns) → the same rows: junk lines removed from kept documents, others marked
    ``c4:<rule>``."""

    STAGE = STAGE
    NEEDS = ("source", "text", "_reject_reason")
    ADDS = FILTER_COLUMNS

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg.quality.c4
        self.terminal_punct = cfg.quality.c4_terminal_punct
        self.splitter = shared_splitter()
        self.counts: dict[str, int] = {}
        self._removed: dict[str, dict[str, int]] = {}  # source -> rule -> lines, for the batch being checked
        self._sources: list[str] = []
        self._row = 0

    def check(self, text: str) -> Drop | str:
        return check_c4(text, self.cfg, self.terminal_punct, self.splitter, self._removed.setdefault(self._sources[self._row], {}))

    def receipt_counts(self) -> dict[str, dict[str, int]]:
        """The last batch's removed lines per rule and source (``{"c4_lines_<rule>": {source: n}}``), for its receipt."""
        out: dict[str, dict[str, int]] = {}
        for source, rules in sorted(self._removed.items()):
            for rule, n in rules.items():
                out.setdefault(f"c4_lines_{rule}", {})[source] = n
        return out

    def _at(self, row: int) -> None:
        self._row = row

    def __call__(self, batch: pa.Table) -> pa.Table:
        self._removed = {}
        self._sources = batch["source"].to_pylist() if batch.num_rows else []
        return apply_check(batch, STAGE, self.check, self.counts, at_row=self._at)
