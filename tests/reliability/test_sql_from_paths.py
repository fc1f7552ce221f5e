"""No SQL text is built from paths or data: folders named ``it's``, ``g[1]``, ``a b``, ``ü`` work in every DuckDB
query, and a crafted manifest cannot make lineage run SQL (or write any file)."""

from __future__ import annotations

import json
import re
import tokenize
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.clean import exact_dedup
from tokenmill.operators.report.dna_report import bp_per_token_by_source
from tokenmill.pipelines import ingest as ingest_pipeline
from tokenmill.pipelines import lineage
from tokenmill.schemas import DOCUMENTS

ODD_NAMES = ["it's", "g[1]", "a b", "ü", "x'); COPY (SELECT 1) TO 'pwned.csv'; --"]
ROOT = Path(__file__).resolve().parents[2]
SQL_WORDS = re.compile(r"\b(SELECT|COPY|read_parquet|INSERT|CREATE|ATTACH)\b")
FSTRING_START = getattr(tokenize, "FSTRING_START", -1)


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _docs(n: int) -> pa.Table:
    texts = [f"text {i % 7}" for i in range(n)]  # duplicates on purpose
    return pa.table(
        {
            "id": [f"{i:04x}" for i in range(n)],
            "source": ["s.jsonl"] * n,
            "location": [f"byte={i}" for i in range(n)],
            "text": texts,
            "lang": [None] * n,
            "script": [None] * n,
            "n_bytes": [len(t) for t in texts],
            "meta": [None] * n,
        },
        schema=DOCUMENTS,
    )


@pytest.mark.parametrize("name", ODD_NAMES)
def test_dedup_and_reports_read_folders_with_odd_names(tmp_path, name):
    base = tmp_path / name
    (base / "in").mkdir(parents=True)
    pq.write_table(_docs(30), base / "in" / "part-0.parquet")
    counts = exact_dedup(base / "in", base / "out", base / "q", "text", "documents/v1")
    assert counts == {"rows_in": 30, "rows_out": 7, "duplicates": 23}
    assert pq.read_table(base / "q")["stage"].to_pylist() == ["dedup"] * 23
    tokens = base / "tokens"
    tokens.mkdir()
    pq.write_table(pa.table({"source": ["a", "a", "b"], "n_bp": [10, 20, 30], "n_tokens": [2, 4, 5]}), tokens / "p.parquet")
    assert bp_per_token_by_source(tokens, totals_only=True) == (3, 11)
    assert bp_per_token_by_source(tokens)["b"]["bp_per_token"] == 6.0
    assert not list(tmp_path.rglob("pwned.csv")) and not Path("pwned.csv").exists()


def test_dedup_refuses_a_stage_that_is_not_a_name(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(_docs(3), tmp_path / "in" / "p.parquet")
    with pytest.raises(ValueError, match="stage"):
        exact_dedup(tmp_path / "in", tmp_path / "out", tmp_path / "q", "text", "documents/v1", stage="x'; DROP")


def test_ingest_writes_into_an_output_named_with_quote_and_bracket(tmp_path, ray_local):
    """Before: ingest did all its work, then failed counting what it wrote (the path was pasted into SQL)."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(20)) + "{broken\n")
    out = tmp_path / "it's g[1] ü"
    assert ingest_pipeline.main(["--input", str(src), "--output", str(out), "--quiet"]) == 0
    assert pq.read_table(out / "documents").num_rows == 20
    assert pq.read_table(out / "quarantine")["reason"].to_pylist() == ["malformed_json"]
    assert all(p.is_relative_to(out) or p == src for p in _all_files(tmp_path))


def _fake_build(root: Path, rows_name: str) -> Path:
    """A published build as lineage reads it: build.json, documents.parquet, shards/manifest.json + a rows file."""
    build = root / "builds" / "b1"
    (build / "shards" / Path(rows_name).parent).mkdir(parents=True)
    (build / "build.json").write_text("{}")
    pq.write_table(
        pa.table(
            {
                "doc_key": ["k1", "k2"],
                "id": ["i1", "i2"],
                "source_name": ["s", "s"],
                "source": ["/d/s.jsonl", "/d/s.jsonl"],
                "location": ["byte=0", "byte=9"],
                "lang": [None, None],
                "n_tokens": [3, 4],
            }
        ),
        build / "documents.parquet",
    )
    rows = build / "shards" / rows_name
    pq.write_table(pa.table({"doc_ids": [["k2", "k1"]]}), rows)
    manifest = {
        "format": "tokenmill shards v1",
        "shards": [
            {
                "name": "s0",
                "rows": 1,
                "documents": 2,
                "segments": 2,
                "tokens": 7,
                "pad_tokens": 0,
                "files": {"rows": {"path": rows_name, "bytes": rows.stat().st_size, "sha256": "0" * 64}},
            }
        ],
        "totals": {},
        "context_length": 8,
        "token_dtype": "uint16",
        "tokenizer": {"vocab_size": 10, "hash": "x"},
        "formats": ["parquet"],
        "config": {"pack": {"pad_id": 0}},
    }
    (build / "shards" / "manifest.json").write_text(json.dumps(manifest))
    return build


def test_lineage_reads_a_build_in_a_folder_with_odd_names(tmp_path):
    build = _fake_build(tmp_path / "it's g[1]", "rows/shard-0.parquet")
    assert [d["id"] for d in lineage.lineage(build, 0, 0)] == ["i2", "i1"]


INJECTION = "rows/x.parquet') LIMIT 1), r AS (SELECT 1 AS doc_key, 1 AS pos FROM range(1)) SELECT 1; COPY (SELECT 42) TO 'PWNED.csv'; --.parquet"


def test_a_crafted_manifest_cannot_run_sql(tmp_path, monkeypatch):
    """Before: the manifest's rows path went into SQL with an f-string, so this manifest ran COPY ... TO any file."""
    monkeypatch.chdir(tmp_path)
    build = _fake_build(tmp_path / "shared", INJECTION)  # the file exists, under its crafted name
    before = _all_files(tmp_path)
    assert [d["id"] for d in lineage.lineage(build, 0, 0)] == ["i2", "i1"]  # read as a path, nothing more
    assert _all_files(tmp_path) == before and not list(tmp_path.rglob("PWNED.csv"))


def test_a_manifest_naming_a_missing_or_outside_rows_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build = _fake_build(tmp_path / "shared", "rows/shard-0.parquet")
    manifest = json.loads((build / "shards" / "manifest.json").read_text())
    manifest["shards"][0]["files"]["rows"]["path"] = INJECTION  # no such file
    (build / "shards" / "manifest.json").write_text(json.dumps(manifest))
    before = _all_files(tmp_path)
    assert lineage.main([str(build), "--shard", "0", "--row", "0"]) == 2
    err = capsys.readouterr().err
    assert "not a file inside" in err and "verify_shards" in err
    assert _all_files(tmp_path) == before


def test_no_value_is_pasted_into_sql_text():
    """A guard for the whole tree: no f-string that reads like SQL pastes a value into a quoted literal ('{x}') or a
    path into read_parquet; values and paths go in as parameters (identifiers may be interpolated, quoted)."""
    offenders = []
    for folder in ("operators", "pipelines"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            with path.open("rb") as fh:
                for tok in tokenize.tokenize(fh.readline):
                    text = tok.string
                    if tok.type == FSTRING_START:  # Python 3.12+: an f-string comes in parts
                        text = tok.line
                    elif tok.type != tokenize.STRING or "f" not in text.split(text[-1], 1)[0].lower():
                        continue
                    if SQL_WORDS.search(text) and re.search(r"(?<!\{)'\{(?!\{)", text):
                        offenders.append(f"{path.relative_to(ROOT)}:{tok.start[0]}")
    assert offenders == []
