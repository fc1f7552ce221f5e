"""Quality filters for web-like text (``ingest.quality.*``): Gopher repetition and quality, C4, FineWeb, language score,
and the PII formatter.

Each filter marks the documents it drops; :class:`FilteredSink` writes them to OUT/filtered. :func:`quality_operators`
lists the operators a config runs, in order (the chain in :mod:`operators.io.chain` calls it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenmill.operators.quality.c4 import C4Filter
from tokenmill.operators.quality.config import (
    PRESETS,
    C4Config,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    PIIConfig,
    QualityConfig,
)
from tokenmill.operators.quality.filter_sink import FILTERED, FilteredSink
from tokenmill.operators.quality.fineweb import FineWebQualityFilter
from tokenmill.operators.quality.gopher_quality import GopherQualityFilter
from tokenmill.operators.quality.gopher_repetition import GopherRepetitionFilter
from tokenmill.operators.quality.lang_score import LanguageScoreFilter
from tokenmill.operators.quality.marks import FILTER_COLUMNS, Drop
from tokenmill.operators.quality.pii import PIIFormatter
from tokenmill.operators.quality.words import WordSplitter

if TYPE_CHECKING:
    from tokenmill.operators.core.ingest_config import IngestConfig

FILTERS: dict[str, type] = {
    "lang_score": LanguageScoreFilter,
    "gopher_repetition": GopherRepetitionFilter,
    "gopher_quality": GopherQualityFilter,
    "c4": C4Filter,
    "fineweb": FineWebQualityFilter,
    "pii": PIIFormatter,
}
"""Filter name (as in ``QualityConfig.filters`` and the ``<filter>:<rule>`` reasons) → operator class."""


def quality_operators(cfg: IngestConfig) -> list[Any]:
    """The filter operators ``cfg.quality`` runs, in order (empty for ``preset: none`` without a language score)."""
    return [FILTERS[name](cfg) for name in cfg.quality.filters]


__all__ = [
    "FILTERED",
    "FILTERS",
    "FILTER_COLUMNS",
    "PRESETS",
    "C4Config",
    "C4Filter",
    "Drop",
    "FilteredSink",
    "FineWebConfig",
    "FineWebQualityFilter",
    "GopherQualityConfig",
    "GopherQualityFilter",
    "GopherRepetitionConfig",
    "GopherRepetitionFilter",
    "LanguageScoreFilter",
    "PIIConfig",
    "PIIFormatter",
    "QualityConfig",
    "WordSplitter",
    "quality_operators",
]
