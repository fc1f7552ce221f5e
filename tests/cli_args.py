"""Command-line helpers of the pipeline tests."""

from __future__ import annotations


def set_args(*settings: str) -> list[str]:
    """``--set KEY=VALUE`` for each of ``settings``, as a job's command line takes config keys."""
    return [arg for setting in settings for arg in ("--set", setting)]
