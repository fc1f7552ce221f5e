"""Romanization: uroman, exact line by line and fast (cache of context-free line pieces, uroman-fast per script)."""

from operators.romanize.engine import (
    FAST_EXCLUDED,
    FAST_SCRIPTS,
    UromanEngine,
    reference_romanize_text,
    split_segments,
)
from operators.romanize.romanizer import Romanizer, RomanizerConfig

__all__ = [
    "FAST_EXCLUDED",
    "FAST_SCRIPTS",
    "Romanizer",
    "RomanizerConfig",
    "UromanEngine",
    "reference_romanize_text",
    "split_segments",
]
