"""build_corpus with a source's quality filters (``sources[].ingest.quality``): filtered documents in the build's
filtered.parquet, in = out + quarantined + filtered per source, the ledger's filter_reasons and text_edits, the
report's drops per rule and source, a WARC source, and the same bytes with one or two workers."""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from tokenmill.pipelines import build_corpus

from ..operators.io.html_pages import html_pages, write_warc
from ..operators.quality.fineweb_chain import run_ours
from ..operators.quality.web_corpus import web_documents

PAGES = 120


def _config(root: Path, shared_data: Path, out: Path, workers: int = 0) -> Path:
    """Source "web": web-like pages (JSONL, two broken lines) under the fineweb preset; source "crawl": a WARC file
    of 8 HTML pages written by warcio, under the gopher preset; source "udhr": three UDHR files, no quality filters."""
    web = root / "web.jsonl"
    if not web.exists():
        lines = [json.dumps({"text": text}) for _, text in web_documents(shared_data, PAGES, seed=7)]
        web.write_text("\n".join([*lines[:50], '{"text": 42}', "{broken", *lines[50:]]) + "\n")
        (root / "udhr").mkdir()
        for lang in ("eng", "fra", "deu"):
            shutil.copyfile(shared_data / f"text/udhr/{lang}.txt", root / "udhr" / f"{lang}.txt")
        write_warc(root / "crawl.warc.gz", html_pages(shared_data, 8, seed=8))
    cfg = {
        "output": str(out),
        "sources": [
            {"name": "web", "input": [str(web)], "ingest": {"quality": {"preset": "fineweb"}}},
            {"name": "crawl", "input": [str(root / "crawl.warc.gz")], "ingest": {"quality": {"preset": "gopher"}}},
            {"name": "udhr", "input": [str(root / "udhr/*.txt")], "ingest": {"format": "text", "lang_from": "filename"}},
        ],
        "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
        "shards": {"pack": {"context_length": 512}},
        "workers": workers,
    }
    path = root / f"corpus-{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _build(out: Path) -> Path:
    return out / "builds" / os.readlink(out / "builds/CURRENT")


def test_build_filters_per_source_and_reports_drops(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    assert build_corpus.main(["--config", str(_config(tmp_path, shared_data, out)), "--quiet"]) == 0
    build = _build(out)
    summary = json.loads((build / "build.json").read_text())
    filtered = pq.read_table(build / "filtered.parquet")
    quarantine = pq.read_table(build / "quarantine.parquet")
    web, udhr, crawl = (summary["per_source"][name] for name in ("web", "udhr", "crawl"))
    # in = out + quarantined + filtered, per source (out: unique documents + duplicates, before the mix)
    for s in (web, udhr, crawl):
        assert s["records_seen"] == s["records_in"] == s["quarantined"] + s["filtered"] + s["unique_documents"] + s["duplicates"]
    assert web["records_seen"] == PAGES + 2 and web["quarantined"] == 2 and udhr["filtered"] == 0
    assert crawl["records_seen"] == 8 and crawl["quarantined"] == 0  # one document per HTML page
    # the same decisions as the filter operators alone, every filtered row in filtered.parquet with its rule
    c4_lines: dict[str, int] = {}
    reasons, _ = run_ours([text for _, text in web_documents(shared_data, PAGES, seed=7)], c4_lines)
    expected = collections.Counter(r for r in reasons if r)
    web_rows = [r for r, src in zip(filtered["reason"].to_pylist(), filtered["source"].to_pylist()) if src == str(tmp_path / "web.jsonl")]
    assert web["filtered"] == len(web_rows) == sum(expected.values()) > 0
    assert collections.Counter(web_rows) == expected == collections.Counter(summary["filter_reasons"]["web"])
    assert set(filtered["source"].to_pylist()) <= {str(tmp_path / "web.jsonl"), str(tmp_path / "crawl.warc.gz")} and "filtered" not in set(
        quarantine["reason"].to_pylist()
    )
    assert summary["totals"]["filtered"] == filtered.num_rows == web["filtered"] + crawl["filtered"]
    # the ledger: filter_reasons per source and rule; each filter stage's rows_out leaves out what it filtered
    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    rows = led.execute("SELECT stage, source, reason, count FROM filter_reasons").fetchall()
    assert {(src, reason): n for _, src, reason, n in rows if src == "web"} == {("web", r): n for r, n in expected.items()}
    assert all(stage == reason.split(":")[0] for stage, _, reason, _ in rows)
    stages = dict(led.execute("SELECT stage, rows_in - rows_out - rows_quarantined FROM stages").fetchall())
    everywhere = collections.Counter(reason for _, _, reason, n in rows for _ in range(n))
    for name in ("gopher_repetition", "gopher_quality", "c4", "fineweb"):
        assert stages[name] == sum(n for r, n in everywhere.items() if r.startswith(name + ":"))
    # the lines C4 removed from the documents it kept, per rule and source, as the operator alone counts them
    edits = led.execute("SELECT kind, count FROM text_edits WHERE stage = 'c4' AND source = 'web'").fetchall()
    assert dict(edits) == c4_lines and c4_lines
    led.close()
    # the report: a table and a chart of drops per rule and source
    page = (build / "report.html").read_text()
    assert "Filtered by quality rules" in page and (build / "report/filtered.png").stat().st_size > 0
    top_rule = expected.most_common(1)[0][0]
    by_source = [summary["filter_reasons"].get(name, {}).get(top_rule, 0) for name in ("crawl", "udhr", "web")]  # columns, sorted
    assert f"<tr><td>{top_rule}</td>{''.join(f'<td>{n}</td>' for n in by_source)}<td>{sum(by_source)}</td></tr>" in page


@pytest.mark.slow
def test_same_bytes_with_one_or_two_workers(tmp_path, shared_data, ray_local):
    outs = [tmp_path / "one", tmp_path / "two"]
    for out, workers in zip(outs, (1, 2)):
        assert build_corpus.main(["--config", str(_config(tmp_path, shared_data, out, workers)), "--quiet"]) == 0
    one, two = (_build(out) for out in outs)
    for name in ("filtered.parquet", "quarantine.parquet", "documents.parquet"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    sha = [json.loads((b / "build.json").read_text())["shard_sha256"] for b in (one, two)]
    assert sha[0] == sha[1]


def test_filtered_rows_missing_from_a_partition_fail_the_build(tmp_path, shared_data):
    """A partition whose filtered file is gone (and unlisted, so its checksums still pass) holds fewer rows than its
    reader saw: assembly refuses the build, naming the source and how many records were lost."""
    from tests.operators.corpus_build import build_in_process
    from tokenmill.operators.corpus_build.assemble import assemble_build
    from tokenmill.operators.corpus_build.config import load_build_config

    cfg = load_build_config(_config(tmp_path, shared_data, tmp_path / "out"))
    cache = tmp_path / "cache"
    engine, partitions = build_in_process(cfg, cache)
    web = next(p["key"] for p in partitions if p["source_name"] == "web")
    meta = json.loads((cache / web / "meta.json").read_text())
    gone = next(f for f in meta["files"] if f.startswith("filtered/"))
    n = pq.read_metadata(cache / web / gone).num_rows
    (cache / web / gone).unlink()
    del meta["files"][gone]
    (cache / web / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "staging").mkdir()
    with pytest.raises(RuntimeError, match=rf"source web: .*web\.jsonl .*\+ \d+ filtered: {n} records lost"):
        assemble_build(cfg, [p["key"] for p in partitions], cache, tmp_path / "staging", engine, "run", "20260101T000000-00000000", None, None)
