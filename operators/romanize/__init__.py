"""Romanization: uroman, exact line by line and fast (cached context-free pieces, uroman-fast where checked)."""

from tokenmill.operators.romanize.engine import (
    FAST_EXCLUDED,
    FAST_SCRIPTS,
    UromanEngine,
    fast_eligible,
    reference_romanize_text,
)
from tokenmill.operators.romanize.romanizer import Romanizer, RomanizerConfig
from tokenmill.operators.romanize.segments import Segmenter, lattice_romanize

__all__ = [
    "FAST_EXCLUDED",
    "FAST_SCRIPTS",
    "Romanizer",
    "RomanizerConfig",
    "Segmenter",
    "UromanEngine",
    "fast_eligible",
    "lattice_romanize",
    "reference_romanize_text",
]
