"""Cleaning stages: DNA segmenting, text normalization/validation, language identification, exact dedup."""

from operators.clean.dedup import exact_dedup
from operators.clean.dna_segment import DnaSegmenter
from operators.clean.langid import LanguageIdentifier, detect_language
from operators.clean.text_normalize import TextNormalizer, dominant_script

__all__ = ["DnaSegmenter", "LanguageIdentifier", "TextNormalizer", "detect_language", "dominant_script", "exact_dedup"]
