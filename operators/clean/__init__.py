"""Cleaning stages: DNA segmenting, text normalization/validation, exact dedup."""

from operators.clean.dedup import exact_dedup
from operators.clean.dna_segment import DnaSegmenter
from operators.clean.text_normalize import TextNormalizer, dominant_script

__all__ = ["DnaSegmenter", "TextNormalizer", "dominant_script", "exact_dedup"]
