"""No hang: an input that is not a regular file (a FIFO named like an input, a link to a device) is refused with a
clear error before anything opens it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io import resolve_inputs

ROOT = Path(__file__).resolve().parents[2]


def test_a_fifo_named_like_an_input_is_refused(tmp_path):
    os.mkfifo(tmp_path / "y.jsonl")
    with pytest.raises(ConfigError, match=r"y\.jsonl is a named pipe \(FIFO\), not a regular file"):
        resolve_inputs([str(tmp_path / "y.jsonl")])


def test_a_glob_that_matches_a_fifo_is_refused(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    os.mkfifo(tmp_path / "b.jsonl")
    with pytest.raises(ConfigError, match=r"b\.jsonl is a named pipe"):
        resolve_inputs([str(tmp_path / "*.jsonl")])


def test_a_link_to_a_device_is_refused(tmp_path):
    (tmp_path / "z.txt").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="is a device, not a regular file"):
        resolve_inputs([str(tmp_path / "z.txt")])


def test_ingest_of_a_fifo_exits_2_instead_of_hanging(tmp_path):
    """Before: the run hung forever in open(). (The timeout only keeps a regression from hanging the suite.)"""
    os.mkfifo(tmp_path / "y.jsonl")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "ingest.py"), "--input", str(tmp_path / "y.jsonl"), "--output", str(tmp_path / "out"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "named pipe (FIFO), not a regular file" in proc.stderr
