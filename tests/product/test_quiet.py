"""A normal run prints tokenmill's lines, not Ray's banners and notices; --quiet prints warnings and the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RAY_NOISE = (
    "Started a local Ray instance",
    "Token authentication is enabled",
    "Progress bars disabled",
    "Starting execution of Dataset",
    "Execution plan of Dataset",
)


def pack(tmp_path: Path, shared_data: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    src = tmp_path / "docs.jsonl"
    if not src.exists():
        src.write_text("".join(json.dumps({"text": f"document {i}: all human beings are born free and equal."}) + "\n" for i in range(20)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TOKENMILL_"))}  # an embedded Ray, as a user gets
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tokenmill",
            "pack-shards",
            "--input",
            str(src),
            "--tokenizer",
            str(shared_data / "tokenizers" / "gpt2"),
            "--output",
            str(tmp_path / out),
            "--num-cpus",
            "1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )


def test_normal_run_has_no_ray_banners(tmp_path, shared_data):
    run = pack(tmp_path, shared_data, "normal")
    assert run.returncode == 0, run.stderr
    for noise in RAY_NOISE:
        assert noise not in run.stderr, noise
    assert "tokenmill.ledger" in run.stderr  # tokenmill's own progress lines stay
    assert run.stdout.startswith("read: ") and "\nshards: " in run.stdout


def test_quiet_prints_only_warnings_and_the_summary(tmp_path, shared_data):
    run = pack(tmp_path, shared_data, "quiet", "--quiet")
    assert run.returncode == 0, run.stderr
    for noise in RAY_NOISE:
        assert noise not in run.stderr, noise
    assert " INFO " not in run.stderr
    assert run.stdout.startswith("read: 20 records") and "\nshards: " in run.stdout and "20 documents" in run.stdout
