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
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"is in use by another process \(.*PID {holder.pid}\)"):
            Ledger(path)
        # a pipeline says it in one line and exits 2
        (tmp_path / "in.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
        proc = subprocess.run([sys.executable, str(ROOT / "pipelines" / "ingest.py"), "--input", str(tmp_path / "in.jsonl"),
                               "--output", str(tmp_path), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "is in use by another process" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()
