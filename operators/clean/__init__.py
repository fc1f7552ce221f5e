"""Cleaning stages: DNA segmenting, text normalization/validation, language identification, exact dedup."""

from tokenmill.operators.clean.dedup import exact_dedup
from tokenmill.operators.clean.dna_segment import DnaSegmenter
from tokenmill.operators.clean.langid import LanguageIdentifier, detect_language
from tokenmill.operators.clean.text_normalize import TextNormalizer, dominant_script

__all__ = ["DnaSegmenter", "LanguageIdentifier", "TextNormalizer", "detect_language", "dominant_script", "exact_dedup"]
