"""The run ledger: runs and their status, killed runs marked aborted, per-source counts, versioning."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from tokenmill.operators.ledger import Ledger
from tokenmill.schemas.ledger import LEDGER_VERSION


def test_runs_stages_and_source_counts(tmp_path):
    led = Ledger(tmp_path / "ledger.duckdb")
    run = led.start_run("ingest", {"k": 1})
    led.add_stage("read", rows_in=5, rows_out=4, rows_quarantined=1)
    led.add_source_counts("ingest", [("a.txt", 5, 4, 1)])
    led.finish_run("succeeded")
    led.close()
    con = duckdb.connect(str(tmp_path / "ledger.duckdb"), read_only=True)
    assert con.execute("SELECT run, status FROM runs").fetchall() == [(run, "succeeded")]
    assert con.execute("SELECT source, records_seen, records_out, records_quarantined FROM source_counts").fetchall() == [("a.txt", 5, 4, 1)]
    assert con.execute("SELECT pid FROM run_process").fetchone()[0] == os.getpid()


def test_a_killed_run_is_marked_aborted_at_the_next_start(tmp_path):
    path = tmp_path / "ledger.duckdb"
    code = f"import os\nfrom tokenmill.operators.ledger import Ledger\nl = Ledger({str(path)!r}); print(l.start_run('x', {{}})); l.con.close(); os._exit(9)"
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    led = Ledger(path)
    assert led.mark_aborted() == [killed]
    mine = led.start_run("y", {})
    assert led.mark_aborted() == []  # this process's own run is alive
    status = dict(led.con.execute("SELECT run, status FROM runs").fetchall())
    assert status == {killed: "aborted", mine: "running"}


def test_a_ledger_of_another_version_is_refused(tmp_path):
    led = Ledger(tmp_path / "ledger.duckdb")
    led.con.execute("UPDATE meta SET value = 'ledger/v0' WHERE key = 'version'")
    led.close()
    with pytest.raises(ValueError, match="ledger/v0 ledger"):
        Ledger(tmp_path / "ledger.duckdb")


def test_a_v1_ledger_is_upgraded_in_place(tmp_path):
    path = tmp_path / "ledger.duckdb"
    con = duckdb.connect(str(path))  # the v1 layout: no stages.tokens
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('version', 'ledger/v1')")
    con.execute("CREATE TABLE stages (run VARCHAR, stage VARCHAR, rows_in BIGINT, rows_out BIGINT, rows_quarantined BIGINT, bytes BIGINT, seconds DOUBLE)")
    con.execute("INSERT INTO stages VALUES ('old', 'read', 3, 3, 0, 100, 1.0)")
    con.close()
    led = Ledger(path)
    led.start_run("x", {})
    led.add_stage("pack_shards", rows_in=3, rows_out=1, rows_quarantined=0, bytes=4096, tokens=77)
    rows = led.con.execute("SELECT run, stage, bytes, tokens FROM stages ORDER BY stage").fetchall()
    assert rows == [(led.run_id, "pack_shards", 4096, 77), ("old", "read", 100, None)]
    assert led.con.execute("SELECT value FROM meta").fetchone()[0] == LEDGER_VERSION


def test_a_v3_ledger_gets_natural_run_columns(tmp_path):
    """ledger/v4 renames runs.id/start/"end" to run/started/finished in place; old rows keep their values."""
    path = tmp_path / "ledger.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('version', 'ledger/v3')")
    con.execute(
        "CREATE TABLE runs (id VARCHAR PRIMARY KEY, pipeline VARCHAR, config JSON, code_version VARCHAR, "
        'start TIMESTAMP, "end" TIMESTAMP, status VARCHAR, error VARCHAR)'
    )
    con.execute("INSERT INTO runs VALUES ('old', 'ingest', '{}', 'c', TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-02', 'succeeded', NULL)")
    con.close()
    led = Ledger(path)
    run = led.start_run("x", {})
    led.finish_run()
    rows = led.con.execute("SELECT run, status, finished IS NOT NULL FROM runs JOIN run_process USING (run) ORDER BY started").fetchall()
    assert rows == [(run, "succeeded", True)]
    assert led.con.execute("SELECT run, pipeline FROM runs ORDER BY started").fetchall() == [("old", "ingest"), (run, "x")]
