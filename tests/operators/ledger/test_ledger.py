"""The run ledger: runs and their status, killed runs marked aborted, per-source counts, versioning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from operators.ledger import Ledger

ROOT = Path(__file__).resolve().parents[3]


def test_runs_stages_and_source_counts(tmp_path):
    led = Ledger(tmp_path / "ledger.duckdb")
    run = led.start_run("ingest", {"k": 1})
    led.add_stage("read", rows_in=5, rows_out=4, rows_quarantined=1)
    led.add_source_counts("ingest", [("a.txt", 5, 4, 1)])
    led.finish_run("succeeded")
    led.close()
    con = duckdb.connect(str(tmp_path / "ledger.duckdb"), read_only=True)
    assert con.execute("SELECT id, status FROM runs").fetchall() == [(run, "succeeded")]
    assert con.execute("SELECT source, records_seen, records_out, records_quarantined FROM source_counts").fetchall() \
        == [("a.txt", 5, 4, 1)]
    assert con.execute("SELECT pid FROM run_process").fetchone()[0] == os.getpid()


def test_a_killed_run_is_marked_aborted_at_the_next_start(tmp_path):
    path = tmp_path / "ledger.duckdb"
    code = (f"import sys, os; sys.path.insert(0, {str(ROOT)!r})\nfrom operators.ledger import Ledger\n"
            f"l = Ledger({str(path)!r}); print(l.start_run('x', {{}})); l.con.close(); os._exit(9)")
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    led = Ledger(path)
    assert led.mark_aborted() == [killed]
    mine = led.start_run("y", {})
    assert led.mark_aborted() == []  # this process's own run is alive
    status = dict(led.con.execute("SELECT id, status FROM runs").fetchall())
    assert status == {killed: "aborted", mine: "running"}


def test_a_ledger_of_another_version_is_refused(tmp_path):
    led = Ledger(tmp_path / "ledger.duckdb")
    led.con.execute("UPDATE meta SET value = 'ledger/v0' WHERE key = 'version'")
    led.close()
    with pytest.raises(ValueError, match="ledger/v0 ledger"):
        Ledger(tmp_path / "ledger.duckdb")
