"""A ledger held by another process or damaged gives one line with the way out, not a DuckDB traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.ledger import Ledger

ROOT = Path(__file__).resolve().parents[3]


def _ledger(path: Path) -> bytes:
    led = Ledger(path)
    led.start_run("ingest", {"input": ["a.jsonl"]})
    led.finish_run()
    led.close()
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0, 100, 0.5, 0.9, -1])
def test_a_truncated_ledger_is_a_clear_error(tmp_path, keep):
    data = _ledger(tmp_path / "good.duckdb")
    n = {0: 0, 100: 100, -1: len(data) - 1}.get(keep, int(len(data) * keep))
    path = tmp_path / "ledger.duckdb"
    path.write_bytes(data[:n])
    with pytest.raises(ConfigError, match=r"is damaged \(truncated or overwritten\?\); move it aside \(mv "):
        Ledger(path)


def test_a_ledger_held_by_another_process_is_a_clear_error(tmp_path):
    path = tmp_path / "ledger.duckdb"
    _ledger(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(120)", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"is in use by another process \(.*PID {holder.pid}\)"):
            Ledger(path)
        # a pipeline says it in one line and exits 2
        (tmp_path / "in.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
        proc = subprocess.run(
            [sys.executable, str(ROOT / "pipelines" / "ingest.py"), "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "is in use by another process" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()


def _killed_run(path: Path, publish) -> str:
    """A run whose process dies (os._exit, no cleanup) after ``publish(run_id)`` wrote what it publishes."""
    code = (
        "import sys, os\nfrom tokenmill.operators.ledger import Ledger\n"
        f"l = Ledger({str(path)!r}); print(l.start_run('build_corpus', {{}}), flush=True); l.con.close(); "
        f"sys.stdin.readline(); os._exit(9)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    run = proc.stdout.readline().strip()
    publish(run)  # while the run's process is alive, as a real run publishes before it closes its ledger row
    proc.stdin.write("\n")
    proc.stdin.close()
    proc.wait(timeout=60)
    return run


def test_a_run_that_died_after_publishing_its_build_is_succeeded(tmp_path):
    path = tmp_path / "ledger.duckdb"

    def publish_build(run: str) -> None:
        (tmp_path / "builds" / "b1").mkdir(parents=True)
        (tmp_path / "builds" / "b1" / "build.json").write_text(json.dumps({"format": "tokenmill build v1", "run_id": run}))

    def publish_shards(run: str) -> None:
        (tmp_path / "shards").mkdir()
        (tmp_path / "shards" / "manifest.json").write_text(json.dumps({"format": "tokenmill shards v1", "run_id": run}))

    built = _killed_run(path, publish_build)
    packed = _killed_run(path, publish_shards)
    lost = _killed_run(path, lambda run: None)
    led = Ledger(path)
    led.mark_aborted()  # (each run's start marked the dead ones before it too)
    rows = {r: (s, e) for r, s, e in led.con.execute("SELECT run, status, error FROM runs").fetchall()}
    led.close()
    assert rows[built][0] == "succeeded" and "after it published builds/b1" in rows[built][1]
    assert rows[packed][0] == "succeeded" and "after it published shards" in rows[packed][1]
    assert rows[lost][0] == "aborted"
