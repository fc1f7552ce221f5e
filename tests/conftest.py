"""Shared fixtures: the real data folder and a session-scoped local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder ``../shared/data`` (skips with a clear message when it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is missing (CI has it; see DESIGN.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray (2 CPUs) shared by the whole test session."""
    os.environ.pop("RAY_ADDRESS", None)
    from operators.core.runtime import init_ray, shutdown_ray

    info = init_ray(num_cpus=2, quiet=True)
    yield info
    shutdown_ray(info)
