"""pipelines/ingest.py end to end on a real local Ray: real data, the bad-input suite, reconciliation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.bad_inputs import write_bad_corpus
from tokenmill.pipelines import ingest as ingest_pipeline
from tokenmill.schemas import DNA_SEGMENTS, DOCUMENTS, schema_name


def _udhr_lines(shared_data: Path, n: int = 40) -> list[str]:
    lines = [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if l.strip()]
    return lines[:n]


def _ledger(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / "ledger.duckdb"), read_only=True)


def test_bad_input_suite_reconciles(tmp_path, shared_data, ray_local):
    corpus = tmp_path / "corpus"
    expect = write_bad_corpus(corpus, _udhr_lines(shared_data))
    out = tmp_path / "out"
    rc = ingest_pipeline.main(
        ["--input", str(corpus / "*"), "--output", str(out), "--quiet", "--set", "ingest.segment_length=1000", "--set", "ingest.min_length=50"]
    )
    assert rc == 0
    con = duckdb.connect()
    q = con.execute(f"SELECT source, reason, count(*) FROM read_parquet('{out}/quarantine/*.parquet') GROUP BY ALL").fetchall()
    got: dict[str, dict] = {}
    for src, reason, n in q:
        got.setdefault(Path(src).name, {})[reason] = n
    for name, reasons in expect.items():
        for reason, n in reasons.items():
            assert got.get(name, {}).get(reason, 0) >= n, (name, reason, got.get(name))
    # good records around the broken ones are still ingested
    docs = pq.read_table(out / "documents")
    sources = {Path(s).name for s in docs["source"].to_pylist()}
    assert {"good.jsonl", "broken.jsonl", "good.parquet", "huge_line.txt", "latin1.txt"} <= sources
    assert docs.num_rows == len(set(docs["id"].to_pylist())), "ids are unique"
    segs = pq.read_table(out / "dna_segments")
    assert schema_name(pq.read_schema(next((out / "dna_segments").glob("*.parquet")))) == schema_name(DNA_SEGMENTS)
    assert set(segs["record"].to_pylist()) == {"chr1", "chr2", "chr3", "chr4"}  # chr2: the 205-bp tail after the bad segment
    assert max(segs["soft_masked_fraction"].to_pylist()) == pytest.approx(0.6)
    # reconciliation in the ledger: records in == out + quarantined, and equal to what is on disk
    led = _ledger(out)
    rows_in, rows_out, rows_q = led.execute("SELECT rows_in, rows_out, rows_quarantined FROM stages WHERE stage='ingest'").fetchone()
    n_q = con.execute(f"SELECT count(*) FROM read_parquet('{out}/quarantine/*.parquet')").fetchone()[0]
    assert rows_in == rows_out + rows_q
    assert rows_out == docs.num_rows + segs.num_rows and rows_q == n_q
    assert led.execute("SELECT sum(count) FROM quarantine_reasons").fetchone()[0] == n_q
    assert led.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
    assert led.execute("SELECT count(*) FROM inputs").fetchone()[0] == len(expect)


def test_udhr_and_genomes(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    inputs = [
        str(shared_data / "text/udhr/rus.txt"),
        str(shared_data / "text/udhr/eng.txt"),
        str(shared_data / "text/udhr/cmn_hans.txt"),
        str(shared_data / "dna/lambda_phage.fa"),
    ]
    args = [a for p in inputs for a in ("--input", p)]
    assert ingest_pipeline.main([*args, "--output", str(out), "--quiet", "--set", "ingest.lang_from=filename"]) == 0
    docs = pq.read_table(out / "documents").to_pandas()
    assert schema_name(pq.read_schema(next((out / "documents").glob("*.parquet")))) == schema_name(DOCUMENTS)
    assert set(docs["lang"]) == {"rus", "eng", "cmn"}
    scripts = docs.groupby("lang")["script"].agg(lambda s: s.mode()[0]).to_dict()
    assert scripts == {"rus": "Cyrillic", "eng": "Latin", "cmn": "Han"}
    segs = pq.read_table(out / "dna_segments")
    assert sum(len(s) for s in segs["seq"].to_pylist()) == 48502  # lambda: 48,502 bp, no N
    # a rerun gives the same ids
    ids = set(docs["id"])
    assert ingest_pipeline.main([*args, "--output", str(out), "--quiet", "--set", "ingest.lang_from=filename"]) == 0
    assert set(pq.read_table(out / "documents")["id"].to_pylist()) == ids
    assert _ledger(out).execute("SELECT count(*) FROM runs WHERE status='succeeded'").fetchone()[0] == 2


def test_dedup_quarantines_duplicates(tmp_path, shared_data, ray_local):
    lines = _udhr_lines(shared_data, 10)
    (tmp_path / "a.txt").write_text("\n".join(lines + lines[:4]) + "\n")
    out = tmp_path / "out"
    assert ingest_pipeline.main(["--input", str(tmp_path / "a.txt"), "--output", str(out), "--quiet", "--set", "ingest.dedup=true"]) == 0
    docs = pq.read_table(out / "documents")
    assert sorted(docs["text"].to_pylist()) == sorted(set(lines))
    led = _ledger(out)
    assert led.execute("SELECT rows_in, rows_out, rows_quarantined FROM stages WHERE stage='dedup_documents'").fetchone() == (14, 10, 4)
    assert led.execute("SELECT rows_in, rows_out, rows_quarantined FROM stages WHERE stage='ingest'").fetchone() == (14, 10, 4)
    # The rule: the first copy in input order is kept (here: the lower byte offset), never the smallest id.
    repeat_at = len(("\n".join(lines) + "\n").encode())
    assert all(int(loc.removeprefix("byte=")) < repeat_at for loc in docs["location"].to_pylist())
    dups = duckdb.sql(f"SELECT location FROM read_parquet('{out}/quarantine/*.parquet') WHERE stage = 'dedup_documents'").fetchall()
    assert len(dups) == 4 and all(int(loc.removeprefix("byte=")) >= repeat_at for (loc,) in dups)


def test_user_errors_exit_with_message(tmp_path, capsys, ray_local):
    with pytest.raises(SystemExit) as exc:
        ingest_pipeline.main(["--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ingest_pipeline.main(["--input", "x", "--output", str(tmp_path / "o"), "--set", "no_such_key=1"])
    assert "unknown config key(s) no_such_key" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ingest_pipeline.main(["--input", "x", "--output", str(tmp_path / "o"), "--set", "ingest.segment_length=abc"])
    assert "segment_length: expected an integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the old top-level spelling names the key every job uses
        ingest_pipeline.main(["--input", "x", "--output", str(tmp_path / "o"), "--set", "lang_from=filename"])
    assert "lang_from was renamed: use ingest.lang_from" in capsys.readouterr().err
