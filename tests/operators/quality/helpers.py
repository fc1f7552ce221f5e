"""Documents for the quality-filter tests: distinct English-looking words, so only the repetition a test builds repeats."""

from __future__ import annotations

import dataclasses

from tokenmill.operators.quality import QualityConfig

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da")


def words(n: int, start: int = 0) -> list[str]:
    """``n`` distinct lower-case words (6 letters below number 1000, no stop words): number ``i`` spelled in syllables."""
    return ["".join(_SYLLABLES[int(d)] for d in f"{i:03d}") for i in range(start, start + n)]


def sentence(n_words: int, start: int) -> str:
    """A sentence of ``n_words`` (>= 3) distinct words but two stop words ("of the"), ending in a period."""
    ws = words(n_words - 2, start)
    return " ".join([ws[0].capitalize(), "of", "the", *ws[1:]]) + "."


def prose_lines(n_lines: int, words_per_line: int = 12, start: int = 0) -> list[str]:
    """Lines of prose, each one sentence of distinct words."""
    return [sentence(words_per_line, start + i * words_per_line) for i in range(n_lines)]


def only(section: str, **values) -> QualityConfig:
    """A quality config whose ``section`` has every numeric rule off except ``values``."""
    base = QualityConfig()
    cfg = getattr(base, section)
    off = {f.name: None for f in dataclasses.fields(cfg) if f.type in ("float | None", "int | None")}
    return dataclasses.replace(base, **{section: dataclasses.replace(cfg, **{**off, **values})})
