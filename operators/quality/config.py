"""Configuration of quality filtering (``ingest.quality.*``): a preset and every threshold of every rule.

The defaults are datatrove 0.10.1's (its GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter and
FineWebQualityFilter), so ``preset: fineweb`` with nothing else set is the FineWeb recipe's quality chain. A threshold
set to null (``--set ingest.quality.gopher_quality.max_doc_words=null``) switches its rule off, as ``None`` does in
datatrove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PRESETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "fineweb": ("gopher_repetition", "gopher_quality", "c4", "fineweb"),
    "gopher": ("gopher_repetition", "gopher_quality"),
    "c4": ("c4",),
}
"""The filters each preset runs, in order (FineWeb: Gopher repetition → Gopher quality → C4 → FineWeb quality)."""


def _check_fractions(obj: object, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{prefix}.{name} must be a fraction in 0..1 or null (rule off), got {value}")


def _check_counts(obj: object, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and value < 0:
            raise ValueError(f"{prefix}.{name} must be >= 0 or null (rule off), got {value}")


@dataclass(frozen=True, kw_only=True, slots=True)
class GopherRepetitionConfig:
    """Gopher repetition rules (Rae et al. 2021, table A1): a document is dropped when a fraction exceeds its limit."""

    dup_para_frac: float | None = 0.3
    """Paragraphs (split at blank lines) that repeat an earlier paragraph, as a fraction of all paragraphs."""
    dup_para_char_frac: float | None = 0.2
    """Characters in repeated paragraphs, as a fraction of the document's characters."""
    dup_line_frac: float | None = 0.3
    """Lines (split at runs of newlines) that repeat an earlier line, as a fraction of all lines."""
    dup_line_char_frac: float | None = 0.2
    """Characters in repeated lines, as a fraction of the document's characters."""
    top_2_gram_frac: float | None = 0.2
    """Characters covered by the most frequent word 2-gram (its length with spaces × its count) / document characters."""
    top_3_gram_frac: float | None = 0.18
    """The same for the most frequent word 3-gram."""
    top_4_gram_frac: float | None = 0.16
    """The same for the most frequent word 4-gram."""
    dup_5_gram_frac: float | None = 0.15
    """Characters (without spaces) of word 5-grams that repeat an earlier 5-gram, counted without overlap / document
    characters."""
    dup_6_gram_frac: float | None = 0.14
    """The same for word 6-grams."""
    dup_7_gram_frac: float | None = 0.13
    """The same for word 7-grams."""
    dup_8_gram_frac: float | None = 0.12
    """The same for word 8-grams."""
    dup_9_gram_frac: float | None = 0.11
    """The same for word 9-grams."""
    dup_10_gram_frac: float | None = 0.10
    """The same for word 10-grams."""

    def __post_init__(self) -> None:
        _check_fractions(self, "gopher_repetition", tuple(self.__dataclass_fields__))

    @property
    def top_n_grams(self) -> tuple[tuple[int, float | None], ...]:
        return ((2, self.top_2_gram_frac), (3, self.top_3_gram_frac), (4, self.top_4_gram_frac))

    @property
    def dup_n_grams(self) -> tuple[tuple[int, float | None], ...]:
        return (
            (5, self.dup_5_gram_frac),
            (6, self.dup_6_gram_frac),
            (7, self.dup_7_gram_frac),
            (8, self.dup_8_gram_frac),
            (9, self.dup_9_gram_frac),
            (10, self.dup_10_gram_frac),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
# duplicates: its fields have the shape of GopherRepetitionConfig's (a threshold and its docstring each): config
# dataclasses are flat lists of documented keys by design.
class GopherQualityConfig:
    """Gopher quality rules (Rae et al. 2021): length, word shape, symbols, list/ellipsis lines, stop words."""

    min_doc_words: int | None = 50
    """Fewer words than this (words with at least one non-punctuation character) drops the document."""
    max_doc_words: int | None = 100000
    """More words than this drops the document."""
    min_avg_word_length: float | None = 3
    """Mean word length (characters, over the same words) below this drops the document."""
    max_avg_word_length: float | None = 10
    """Mean word length above this drops the document."""
    max_symbol_word_ratio: float | None = 0.1
    """``#`` characters per word token, and (separately) ``...``/``…`` per word token, above this drops the document."""
    max_bullet_lines_ratio: float | None = 0.9
    """Lines starting with ``•`` or ``-`` (after leading spaces), as a fraction of lines, above this drops it."""
    max_ellipsis_lines_ratio: float | None = 0.3
    """Lines ending with ``...`` or ``…``, as a fraction of lines, above this drops the document."""
    min_alpha_words_ratio: float | None = 0.8
    """Word tokens with at least one alphabetic character, as a fraction of word tokens, below this drops it
    (datatrove's ``max_non_alpha_words_ratio``)."""
    min_stop_words: int | None = 2
    """Fewer distinct stop words (case-sensitive, from ``stop_words``) than this drops the document."""
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
    """The stop words counted by ``min_stop_words``."""

    def __post_init__(self) -> None:
        _check_fractions(self, "gopher_quality", ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio"))
        _check_counts(
            self, "gopher_quality", ("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio", "min_stop_words")
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class C4Config:
    """C4 rules (Raffel et al. 2020, as in TFDS' c4_utils and datatrove): lines are dropped from a document, and the
    document is dropped by some rules. A kept document's text is the kept lines (stripped, citations removed)."""

    filter_no_terminal_punct: bool | None = None
    """Drop lines not ending in ``. ? ! " '`` (or ending in ``...``); null: the preset's choice (on for ``c4``, off
    for ``fineweb``, as FineWeb runs C4)."""
    remove_citations: bool = True
    """Remove Wikipedia-style citations (``[1]``, ``[edit]``, ``[citation needed]``) from lines."""
    min_num_sentences: int | None = 5
    """A document with fewer sentences than this in its kept lines is dropped (``c4:too_few_sentences``)."""
    min_words_per_line: int | None = 3
    """Lines with fewer whitespace-separated words than this are dropped."""
    max_word_length: int | None = 1000
    """Lines with a word longer than this (characters) are dropped."""
    filter_lorem_ipsum: bool = True
    """A kept line containing "lorem ipsum" (any case) drops the document (``c4:lorem_ipsum``)."""
    filter_javascript: bool = True
    """Lines mentioning "javascript" (any case) are dropped."""
    filter_curly_bracket: bool = True
    """A kept line containing ``{`` drops the document (``c4:curly_bracket``)."""
    filter_policy: bool = True
    """Lines with "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies" or "use
    cookies" (any case) are dropped."""

    def __post_init__(self) -> None:
        _check_counts(self, "c4", ("min_num_sentences", "min_words_per_line", "max_word_length"))


@dataclass(frozen=True, kw_only=True, slots=True)
class FineWebConfig:
    """FineWeb quality rules (Penedo et al. 2024), on the non-blank lines of a document."""

    line_punct_thr: float | None = 0.12
    """Lines ending in a sentence-terminal character, as a fraction of lines, below this drops the document."""
    line_punct_exclude_zero: bool = False
    """Keep documents where no line ends in terminal punctuation (a ratio of exactly 0) instead of dropping them."""
    short_line_thr: float | None = 0.67
    """Lines of at most ``short_line_length`` characters, as a fraction of lines, above this drops the document."""
    short_line_length: int = 30
    """The longest line (characters) counted as short."""
    char_duplicates_ratio: float | None = 0.01
    """Characters in lines that repeat an earlier line, over the document's characters without newlines, above this
    drops the document."""
    new_line_ratio: float | None = 0.3
    """Newlines per word token above this drops the document (a list, not prose)."""

    def __post_init__(self) -> None:
        _check_fractions(self, "fineweb", ("line_punct_thr", "short_line_thr", "char_duplicates_ratio"))
        _check_counts(self, "fineweb", ("short_line_length", "new_line_ratio"))


@dataclass(frozen=True, kw_only=True, slots=True)
class PIIConfig:
    """Replacing personal data in kept documents (datatrove's PIIFormatter): e-mail and public IP addresses."""

    enabled: bool = False
    """Run the PII formatter (after the filters, on the documents they keep), with any preset."""
    remove_emails: bool = True
    """Replace e-mail addresses."""
    remove_ips: bool = True
    """Replace IPv4 addresses."""
    only_public_ips: bool = True
    """Replace only global (public) IP addresses; keep private, loopback and reserved ones."""
    email_replacement: tuple[str, ...] = ("email@example.com", "firstname.lastname@example.org")
    """Replacements for e-mail addresses, used in turn within a document."""
    ip_replacement: tuple[str, ...] = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11", "18.104.22.168")
    """Replacements for IP addresses, used in turn within a document (datatrove's list)."""

    def __post_init__(self) -> None:
        if not self.email_replacement or not self.ip_replacement:
            raise ValueError("pii.email_replacement and pii.ip_replacement need at least one value each")


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityConfig:
    """Which quality filters run on text documents, and their thresholds (datatrove 0.10.1's defaults)."""

    preset: Literal["none", "fineweb", "gopher", "c4"] = "none"
    """``fineweb``: Gopher repetition → Gopher quality → C4 (no terminal-punctuation rule) → FineWeb quality, the FineWeb
    recipe; ``gopher``: the two Gopher filters; ``c4``: the C4 filter with all its rules; ``none``: no quality filter
    (code, DNA and other non-web inputs). A dropped document goes to OUT/filtered with its rule, value and threshold."""
    min_lang_score: float | None = None
    """Drop documents whose language-ID score (``meta.lang_score``: the share of the text in the detected language)
    is below this, or whose language is unknown; needs ``ingest.lang_from=detect``. Runs with any preset."""
    languages: tuple[str, ...] = ()
    """With ``min_lang_score``: also drop documents whose detected language (ISO 639-3) is not one of these."""
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    """Gopher repetition thresholds."""
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    """Gopher quality thresholds."""
    c4: C4Config = field(default_factory=C4Config)
    """C4 rules."""
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    """FineWeb quality thresholds."""
    pii: PIIConfig = field(default_factory=PIIConfig)
    """PII replacement (off by default)."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"quality.preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.min_lang_score is not None and not 0.0 <= self.min_lang_score <= 1.0:
            raise ValueError(f"quality.min_lang_score must be in 0..1 or null, got {self.min_lang_score}")
        if self.languages and self.min_lang_score is None:
            raise ValueError("quality.languages needs quality.min_lang_score (e.g. 0.5, or 0 for the language only)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> QualityConfig:
        """The config ``dataclasses.asdict`` turned into ``values`` (JSON round trips: lists back to tuples)."""
        sections = {
            "gopher_repetition": GopherRepetitionConfig,
            "gopher_quality": GopherQualityConfig,
            "c4": C4Config,
            "fineweb": FineWebConfig,
            "pii": PIIConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key in sections and isinstance(value, dict):
                value = sections[key](**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    @property
    def filters(self) -> tuple[str, ...]:
        """The operators that run, in order (``lang_score`` first: the cheapest and the most selective; ``pii``
        last, on the documents the filters keep)."""
        return (("lang_score",) if self.min_lang_score is not None else ()) + PRESETS[self.preset] + (("pii",) if self.pii.enabled else ())

    @property
    def c4_terminal_punct(self) -> bool:
        """Whether C4's terminal-punctuation line rule is on (the preset's choice unless set)."""
        if self.c4.filter_no_terminal_punct is not None:
            return self.c4.filter_no_terminal_punct
        return self.preset != "fineweb"
