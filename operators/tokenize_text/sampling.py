"""Language sampling with temperature (XLM-R, ZeTT): p_lang ∝ n_lang^α, turned into per-document repeat counts.

α = 1 keeps the natural mixture, α → 0 makes it uniform over languages; XLM-R uses 0.3. The corpus is resampled
to the same total size: a language's documents are each repeated ``floor(f)`` times plus once more with
probability ``f - floor(f)`` (``f`` = target share / natural share), drawn with a seeded generator so the same
input always gives the same counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageSamplingConfig:
    """Temperature sampling over languages."""

    alpha: float = 0.3
    """Exponent α of p_lang ∝ n_lang^α (1: natural mixture, 0: uniform over languages)."""
    seed: int = 0
    """Seed of the draw of fractional repeats (same seed, same counts)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha: must be in [0, 1], got {self.alpha}")


def language_probabilities(sizes: dict[str, float], alpha: float) -> dict[str, float]:
    """``p_lang = n_lang^α / Σ n^α`` for languages with ``n_lang > 0``."""
    powered = {lang: float(n) ** alpha for lang, n in sizes.items() if n > 0}
    total = sum(powered.values())
    return {lang: v / total for lang, v in powered.items()}


WEIGHT_STEPS = 8
""":func:`language_weights`: a document's count is its language's sampling factor in steps of 1/8 of a copy."""


def language_factors(langs: Sequence[str | None], sizes: Sequence[int], alpha: float) -> np.ndarray:
    """Each document's language factor ``f = p_lang · total / n_lang`` (``p ∝ n^α``, ``n`` = the language's total
    ``sizes``; 0 for a language of no bytes): how many copies of its documents the sample takes, on average.

    Documents without a language form one group of their own (``None``)."""
    by_lang: dict[str | None, int] = {}
    for lang, n in zip(langs, sizes):
        by_lang[lang] = by_lang.get(lang, 0) + n
    total = sum(by_lang.values())
    probs = language_probabilities({str(k): v for k, v in by_lang.items()}, alpha)
    factor = {lang: probs[str(lang)] * total / n if n else 0.0 for lang, n in by_lang.items()}
    return np.array([factor[lang] for lang in langs], dtype=np.float64)


def document_repeats(langs: Sequence[str | None], sizes: list[int], config: LanguageSamplingConfig) -> np.ndarray:
    """Repeat count of each document so languages follow ``p ∝ n^α`` (:func:`language_factors`), drawn.

    A language whose documents are all drawn 0 times keeps its largest one once (first in input order on ties): the
    draw may thin a language, never remove it (a language of one big document with a factor under 1 would otherwise
    vanish with probability ``1 - f``).
    """
    f = language_factors(langs, sizes, config.alpha)
    rng = np.random.default_rng(config.seed)
    base = np.floor(f)
    repeats = (base + (rng.random(len(f)) < (f - base))).astype(np.int64)
    kept: dict[str | None, int] = {}
    largest: dict[str | None, int] = {}
    for i, (lang, n) in enumerate(zip(langs, sizes)):
        kept[lang] = kept.get(lang, 0) + int(repeats[i])
        if n > 0 and (lang not in largest or n > sizes[largest[lang]]):
            largest[lang] = i
    for lang, i in largest.items():
        if kept[lang] == 0:
            repeats[i] = 1
    return repeats


def language_weights(langs: Sequence[str | None], sizes: Sequence[int], config: LanguageSamplingConfig, steps: int = WEIGHT_STEPS) -> np.ndarray:
    """Each document's count as :func:`document_repeats`' mixture without its random draw: ``steps`` x its
    language's factor (:func:`language_factors`), rounded, at least 1. ``document_repeats`` draws whole repeats per
    document, so a document drawn 0 times is left out (held-out UDHR: about 10 % of a training half's bytes, over a
    quarter of the text of the 10 % of languages with the most bytes); here every document counts."""
    return np.maximum(1, np.round(steps * language_factors(langs, sizes, config.alpha))).astype(np.int64)
