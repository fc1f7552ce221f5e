"""pipelines/ingest.py with ``ingest.quality.preset=fineweb`` on web-like JSONL: OUT/filtered, reconciled counts, ledger."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.cli_args import set_args
from tokenmill.operators.quality import FILTERED
from tokenmill.pipelines import ingest as ingest_pipeline
from tokenmill.schemas import schema_name

from .fineweb_chain import run_ours
from .web_corpus import MENU, web_documents


def test_fineweb_preset_end_to_end(tmp_path, shared_data, ray_local):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pages = [text for _, text in web_documents(shared_data, 160, seed=3)]
    with open(corpus / "web.jsonl", "w") as f:
        for i, text in enumerate(pages):
            f.write(json.dumps({"text": text, "url": f"https://example.org/{i}"}) + "\n")
            if i == 10:
                f.write('{"text": 42}\n')  # broken input: quarantined, not filtered
                f.write("{not json\n")
    menus = ["\n".join(MENU[i : i + 8]) for i in range(12)]
    (corpus / "menus.jsonl").write_text("".join(json.dumps({"text": m}) + "\n" for m in menus))
    out = tmp_path / "out"
    rc = ingest_pipeline.main(["--input", str(corpus / "*.jsonl"), "--output", str(out), "--quiet", "--set", "ingest.quality.preset=fineweb"])
    assert rc == 0

    con = duckdb.connect()
    filtered = pq.read_table(out / "filtered")
    assert schema_name(pq.read_schema(next((out / "filtered").glob("*.parquet")))) == schema_name(FILTERED)
    assert json.loads((out / "filtered/.tokenmill").read_text())["kind"] == "filtered"
    docs = pq.read_table(out / "documents")
    quarantine = pq.read_table(out / "quarantine")
    web, menu_src = str(corpus / "web.jsonl"), str(corpus / "menus.jsonl")

    def per_source(table: pa.Table) -> collections.Counter:
        return collections.Counter(table["source"].to_pylist())

    # in = out + quarantined + filtered, per source
    assert per_source(docs)[web] + per_source(quarantine)[web] + per_source(filtered)[web] == len(pages) + 2
    assert per_source(quarantine)[web] == 2 and per_source(filtered)[menu_src] == len(menus) and per_source(docs)[menu_src] == 0
    # the same decisions and kept text as the filter operators alone (and every filtered row says why, with a value)
    c4_lines: dict[str, int] = {}
    reasons, finals = run_ours(pages, c4_lines)
    web_filtered = filtered.filter(pc.equal(filtered["source"], web))
    assert collections.Counter(web_filtered["reason"].to_pylist()) == collections.Counter(r for r in reasons if r)
    kept_texts = sorted(t for t, r in zip(finals, reasons) if r is None)
    assert sorted(docs["text"].to_pylist()) == kept_texts and 0 < len(kept_texts) < len(pages)
    assert len({r.split(":")[0] for r in reasons if r}) == 4  # all four filters dropped something
    assert all(r.count(":") == 1 for r in filtered["reason"].to_pylist())
    assert set(docs["id"].to_pylist()).isdisjoint(filtered["id"].to_pylist())

    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    assert led.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
    ledger_reasons = dict(((s, r), n) for s, r, n in led.execute("SELECT source, reason, sum(count) FROM filter_reasons GROUP BY ALL").fetchall())
    files_reasons = dict(
        ((s, r), n) for s, r, n in con.execute(f"SELECT source, reason, count(*) FROM read_parquet('{out}/filtered/*.parquet') GROUP BY ALL").fetchall()
    )
    assert ledger_reasons == files_reasons
    stages = {s: (i, o) for s, i, o in led.execute("SELECT stage, rows_in, rows_out FROM stages").fetchall()}
    chain = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
    assert [stages[s][0] - stages[s][1] for s in chain] == [sum(n for (_, r), n in files_reasons.items() if r.startswith(s + ":")) for s in chain]
    rows_in, rows_out, rows_q = led.execute("SELECT rows_in, rows_out, rows_quarantined FROM stages WHERE stage='ingest'").fetchone()
    assert rows_in - rows_out - rows_q == filtered.num_rows
    # the lines C4 removed from the documents it kept, per rule and source, as the operator alone counts them
    edits = led.execute("SELECT kind, count FROM text_edits WHERE stage = 'c4' AND source = ?", [web]).fetchall()
    assert dict(edits) == c4_lines and {"c4_lines_javascript", "c4_lines_policy", "c4_lines_min_words_per_line"} <= set(c4_lines)
    led.close()

    # a later run without filters does not leave the earlier run's filtered documents next to its documents
    assert ingest_pipeline.main(["--input", str(corpus / "menus.jsonl"), "--output", str(out), "--quiet"]) == 0
    assert not (out / "filtered").exists() and pq.read_table(out / "documents").num_rows == len(menus)


def test_language_score_threshold(tmp_path, shared_data, ray_local):
    udhr = shared_data / "text/udhr"
    pages = {"eng": (udhr / "eng.txt").read_text(), "fra": (udhr / "fra.txt").read_text()}
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in pages.values()))
    out = tmp_path / "out"
    assert (
        ingest_pipeline.main(
            [
                "--input",
                str(path),
                "--output",
                str(out),
                "--quiet",
                *set_args("ingest.lang_from=detect", "ingest.quality.min_lang_score=0.5", "ingest.quality.languages=[eng]"),
            ]
        )
        == 0
    )
    assert pq.read_table(out / "documents")["lang"].to_pylist() == ["eng"]
    assert pq.read_table(out / "filtered")["reason"].to_pylist() == ["lang_score:language"]
    assert Path(out / "quarantine").is_dir()


def test_same_outputs_on_one_or_two_workers(tmp_path, shared_data):
    """The filtered and kept rows do not depend on how many workers ran (a fresh Ray of 1 CPU, then of 2)."""
    corpus = tmp_path / "web.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for _, t in web_documents(shared_data, 120, seed=5)))
    root = Path(__file__).resolve().parents[3]
    outputs = []
    for cpus in ("1", "2"):
        out = tmp_path / f"out{cpus}"
        proc = subprocess.run(
            [
                sys.executable,
                "pipelines/ingest.py",
                "--input",
                str(corpus),
                "--output",
                str(out),
                "--quiet",
                "--num-cpus",
                cpus,
                "--set",
                "ingest.quality.preset=fineweb",
                "--set",
                "ingest.batch_rows=16",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
            env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs.append([sorted(pq.read_table(out / name).to_pylist(), key=lambda r: r["id"]) for name in ("documents", "filtered")])
    assert outputs[0] == outputs[1] and outputs[0][1]


def test_pii_replacements_are_counted_per_source(tmp_path, shared_data, ray_local):
    lines = [line for line in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if len(line) > 40][:6]
    path = tmp_path / "pages.jsonl"
    path.write_text("".join(json.dumps({"text": f"{line} Contact: someone{i}@example.net from 8.8.{i}.1"}) + "\n" for i, line in enumerate(lines)))
    out = tmp_path / "out"
    assert ingest_pipeline.main(["--input", str(path), "--output", str(out), "--quiet", "--set", "ingest.quality.pii.enabled=true"]) == 0
    texts = pq.read_table(out / "documents")["text"].to_pylist()
    assert len(texts) == len(lines) and not any("someone" in t or "8.8." in t for t in texts)
    assert sum("email@example.com" in t for t in texts) == len(lines)
    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    assert sorted(led.execute("SELECT stage, source, kind, count FROM text_edits").fetchall()) == [
        ("pii", str(path), "pii_email", len(lines)),
        ("pii", str(path), "pii_ip", len(lines)),
    ]
    assert not (out / "filtered").exists()  # the formatter filters nothing
