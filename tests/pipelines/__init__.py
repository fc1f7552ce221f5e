"""Helpers of the pipeline tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_scenario(script: str, *args: str) -> dict:
    """Run ``tests/pipelines/<script>`` (a multi-process scenario: ``cluster_run.py``, ``fault_scenario.py``) with this
    Python from the repository root, away from any ``RAY_ADDRESS``; check that it exited 0 and return the JSON of its
    last ``RESULT`` line."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests/pipelines" / script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(next(l for l in proc.stdout.splitlines()[::-1] if l.startswith("RESULT "))[7:])


def copy_udhr(root: Path, shared_data: Path, langs: list[str] | tuple[str, ...]) -> Path:
    """``root/udhr`` holding copies of UDHR in ``langs`` (``<lang>.txt``: copies, so a test can add or change one)."""
    src = root / "udhr"
    src.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        shutil.copyfile(shared_data / f"text/udhr/{lang}.txt", src / f"{lang}.txt")
    return src
