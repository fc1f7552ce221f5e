"""Shared, session-scoped uroman set-ups for the romanization tests (uroman's tables take seconds to load)."""

from __future__ import annotations

from pathlib import Path

import pytest
import uroman

from tokenmill.operators.romanize import Romanizer, RomanizerConfig, UromanEngine


@pytest.fixture(scope="session")
def reference_uroman() -> uroman.Uroman:
    """The specification: uroman with its default constructor (no cache)."""
    return uroman.Uroman()


@pytest.fixture(scope="session")
def exact_engine() -> UromanEngine:
    """Our engine without uroman-fast: ASCII identity, context-free pieces, cache, whole-line fallback."""
    return UromanEngine(use_uroman_fast=False)


@pytest.fixture(scope="session")
def romanizer() -> Romanizer:
    """The operator with its default settings (uroman-fast on where checked)."""
    return Romanizer(RomanizerConfig())


@pytest.fixture(scope="session")
def udhr_files(shared_data: Path) -> list[tuple[str, str, list[str]]]:
    """(file name, lang, lines) for every UDHR file; lang is the file stem before '_'."""
    out = []
    for path in sorted((shared_data / "text" / "udhr").glob("*.txt")):
        out.append((path.name, path.stem.split("_")[0], path.read_text(encoding="utf-8").split("\n")))
    assert len(out) > 300, "expected the ~380 UDHR files"
    return out
