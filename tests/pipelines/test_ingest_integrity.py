"""Integrity of ingestion: exact counts per broken file, counts that fail a run, ownership of output folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.integrity_inputs import DropOne, write_integrity_corpus
from tokenmill.operators.io import IngestConfig
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch
from tokenmill.pipelines import ingest as ingest_pipeline
from tokenmill.pipelines._ingest import ingest

ROOT = Path(__file__).resolve().parents[2]


def _lines(shared_data: Path, n: int = 60) -> list[str]:
    return [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if l.strip()][:n]


def _counts(out: Path) -> tuple[dict, dict]:
    con = duckdb.connect()
    docs = dict(con.execute(f"SELECT source, count(*) FROM read_parquet('{out}/documents/*.parquet') GROUP BY ALL").fetchall())
    q: dict[str, dict] = {}
    for src, reason, n in con.execute(f"SELECT source, reason, count(*) FROM read_parquet('{out}/quarantine/*.parquet') GROUP BY ALL").fetchall():
        q.setdefault(Path(src).name, {})[reason] = n
    return {Path(k).name: v for k, v in docs.items()}, q


def test_every_broken_file_gives_its_exact_counts(tmp_path, shared_data, ray_local):
    corpus = tmp_path / "corpus"
    expect = write_integrity_corpus(corpus, _lines(shared_data))
    out = tmp_path / "out"
    assert ingest_pipeline.main(["--input", str(corpus / "*"), "--output", str(out), "--quiet"]) == 0
    docs, q = _counts(out)
    for name, want in expect.items():
        assert (docs.get(name, 0), q.get(name, {})) == (want["out"], want["quarantined"]), name
    # the faulty tails say where they are
    con = duckdb.connect()
    detail, loc = con.execute(f"SELECT detail, location FROM read_parquet('{out}/quarantine/*.parquet') WHERE source LIKE '%garbage_frame%'").fetchone()
    assert "corrupt zstd data" in detail and loc.startswith("byte=")
    # a BOM never ends up inside a document; nothing was mangled by the sniffing
    texts = pq.read_table(out / "documents")["text"].to_pylist()
    assert not any(t.startswith("\ufeff") for t in texts)
    # the ledger keeps what each reader saw next to what was written, and the run succeeded
    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    rows = led.execute("SELECT source, records_seen, records_out, records_quarantined FROM source_counts").fetchall()
    for src, seen, n_out, n_q in rows:
        want = expect[Path(src).name]
        assert (n_out, n_q) == (want["out"], sum(want["quarantined"].values()))
        assert seen == n_out + n_q
    assert len(rows) == len(expect)
    assert led.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"


def test_a_stage_that_drops_records_fails_the_run(tmp_path, shared_data, ray_local):
    (tmp_path / "a.txt").write_text("\n".join(_lines(shared_data, 30)) + "\n")
    out = tmp_path / "out"
    cfg = IngestConfig()
    ledger = Ledger(out / "ledger.duckdb")
    ledger.start_run("ingest", {})
    with pytest.raises(CountMismatch) as exc:
        ingest([str(tmp_path / "a.txt")], cfg, out, ledger, extra_ops=[DropOne()])
    message = str(exc.value)
    assert "a.txt: stage drop_one took 30 records but handed on 29 (1 dropped" in message
    assert "30 records seen but 29 written + 0 quarantined" in message
    assert not (out / "documents").exists(), "nothing is published from a run that lost records"
    ledger.close()


def test_count_mismatch_exits_nonzero_with_the_loss(tmp_path, shared_data):
    # The CLI path: a pipeline whose counts do not reconcile exits 4, says what was lost, marks the run failed.
    (tmp_path / "a.txt").write_text("\n".join(_lines(shared_data, 8)) + "\n")
    script = (
        "import sys\n"
        "import tokenmill.operators.io.chain as chain\n"
        "from tokenmill.operators.clean import TextNormalizer\n"
        "from tests.integrity_inputs import DropOne\n"
        "class Broken(TextNormalizer):\n"
        "    STAGE = 'drop_one'\n"
        "    def __call__(self, b): return DropOne()(super().__call__(b))\n"
        "chain.TEXT_OPERATORS = (Broken,)\n"
        "from tokenmill.pipelines import ingest\n"
        f"sys.exit(ingest.main(['--input', {str(tmp_path / 'a.txt')!r}, '--output', {str(tmp_path / 'out')!r}, "
        "'--quiet', '--num-cpus', '1']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": ""}, cwd=ROOT)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "counts do not reconcile" in proc.stderr and "drop_one took 8 records but handed on 7" in proc.stderr
    assert "Traceback" not in proc.stderr
    led = duckdb.connect(str(tmp_path / "out" / "ledger.duckdb"), read_only=True)
    status, error = led.execute("SELECT status, error FROM runs").fetchone()
    assert status == "failed" and "drop_one" in error


def test_ingest_never_replaces_a_folder_it_did_not_write(tmp_path, shared_data, ray_local, capsys):
    (tmp_path / "a.txt").write_text("\n".join(_lines(shared_data, 5)) + "\n")
    out = tmp_path / "out"
    user_file = out / "documents" / "taxes" / "2025.pdf"
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(b"%PDF-1.7 not ours")
    with pytest.raises(SystemExit) as exc:
        ingest_pipeline.main(["--input", str(tmp_path / "a.txt"), "--output", str(out), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "documents exists and was not written by tokenmill" in err and "choose another --output" in err
    assert user_file.read_bytes() == b"%PDF-1.7 not ours"
    # a folder tokenmill wrote is replaced by the next run
    out2 = tmp_path / "out2"
    for _ in range(2):
        assert ingest_pipeline.main(["--input", str(tmp_path / "a.txt"), "--output", str(out2), "--quiet"]) == 0
    assert json.loads((out2 / "documents" / ".tokenmill").read_text())["format"] == "tokenmill output v1"
    assert pq.read_table(out2 / "documents").num_rows == 5


def test_dead_runs_are_cleaned_and_marked_aborted(tmp_path, shared_data, ray_local):
    (tmp_path / "a.txt").write_text("\n".join(_lines(shared_data, 5)) + "\n")
    out = tmp_path / "out"
    # a run killed mid-way: its process is gone, its ledger row says running, its staging folder stays
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\n"
            "from tokenmill.operators.ledger import Ledger\n"
            f"l = Ledger({str(out / 'ledger.duckdb')!r}); rid = l.start_run('ingest', {{}})\n"
            "l.con.close(); print(rid); os._exit(9)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_id = killed.stdout.strip()
    stale = out / f".staging-{run_id}"
    (stale / "documents").mkdir(parents=True)
    (stale / ".tokenmill").write_text(json.dumps({"format": "tokenmill output v1", "kind": "staging", "run": run_id}))
    lookalike = out / ".staging-20250101T000000-0badc0de"  # same name pattern, no marker: not ours
    lookalike.mkdir()
    assert ingest_pipeline.main(["--input", str(tmp_path / "a.txt"), "--output", str(out), "--quiet"]) == 0
    assert not stale.exists() and lookalike.exists()
    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    assert led.execute("SELECT status FROM runs WHERE run = ?", [run_id]).fetchone()[0] == "aborted"
    assert led.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0] == 1


def test_symlink_loop_in_a_glob_is_a_clear_error(tmp_path, capsys, ray_local):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ok.txt").write_text("hello\n")
    os.symlink(tmp_path / "in" / "loop.txt", tmp_path / "in" / "loop.txt")
    with pytest.raises(SystemExit) as exc:
        ingest_pipeline.main(["--input", str(tmp_path / "in" / "*.txt"), "--output", str(tmp_path / "out"), "--quiet"])
    assert exc.value.code == 2
    assert "symbolic link" in capsys.readouterr().err
