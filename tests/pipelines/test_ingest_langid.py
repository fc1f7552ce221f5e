"""``ingest.lang_from=detect`` end to end: ingest.py on real UDHR files (languages known from the names), the
detected languages driving multilingual_tokenizer.py's temperature sampling and build_corpus.py's language numbers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import yaml

from tests.cli_args import set_args
from tokenmill.operators.clean.langid import same_language
from tokenmill.operators.io.decode import lang_from_filename
from tokenmill.operators.tokenize_text.sampling import language_probabilities
from tokenmill.pipelines import build_corpus, multilingual_tokenizer
from tokenmill.pipelines import ingest as ingest_pipeline

FILES = ("eng.txt", "rus.txt", "hin.txt", "cmn_hans.txt", "arb.txt", "fra.txt", "swh.txt", "tha.txt")


def _inputs(shared_data: Path) -> list[str]:
    return [a for f in FILES for a in ("--input", str(shared_data / "text/udhr" / f))]


def _stages(out: Path) -> dict[str, tuple[int, int]]:
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    return {s: (i, o) for s, i, o in con.execute("SELECT stage, rows_in, rows_out FROM stages").fetchall()}


def test_ingest_detects_languages(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    assert ingest_pipeline.main([*_inputs(shared_data), "--output", str(out), "--quiet", "--set", "ingest.lang_from=detect"]) == 0
    docs = pq.read_table(out / "documents").to_pylist()
    assert {Path(d["source"]).name for d in docs} == set(FILES)
    long = [d for d in docs if len(d["text"].strip()) >= 60]
    right = sum(same_language(d["lang"], lang_from_filename(d["source"])) for d in long)
    assert right >= 0.97 * len(long), (right, len(long))
    for d in docs:
        score = json.loads(d["meta"])["lang_score"]
        assert (score is None) == (d["lang"] is None) and (score is None or 0.0 < score <= 1.0)
        assert d["script"] is not None
    scripts = {d["script"] for d in long if same_language(d["lang"], lang_from_filename(d["source"]))}
    assert {"Latin", "Cyrillic", "Devanagari", "Han", "Arabic", "Thai"} <= scripts
    stages = _stages(out)
    assert stages["langid"][0] == stages["langid"][1] == stages["normalize"][1] == len(docs)


def test_detected_languages_drive_alpha_sampling(tmp_path, shared_data, ray_local):
    """multilingual_tokenizer.py with lang_from=detect: its sample follows p ∝ n^α over the detected languages."""
    out = tmp_path / "out"
    assert (
        multilingual_tokenizer.main(
            [*_inputs(shared_data), "--output", str(out), "--quiet", *set_args("ingest.lang_from=detect", "vocab_size=600", "parallel=", "sampling.alpha=0.3")]
        )
        == 0
    )
    docs = pq.read_table(out / "documents", columns=["id", "lang", "text"]).to_pylist()
    langs = [d["lang"] for d in docs]
    assert {"eng", "rus", "hin", "zho", "ara", "fra", "swa", "tha"} <= set(langs)
    sample_in, sample_out = _stages(out)["sample"]
    assert sample_in == len(docs)
    # Temperature sampling over the detected languages: the sample's size is Σ f_i (f_i = the document's language's
    # repeat factor, a fractional part drawn), within a few standard deviations of the draw; without languages every
    # f_i would be 1 and the sample exactly the input.
    sizes = [len(d["text"].encode("utf-8")) for d in docs]
    factors = document_repeat_factors(langs, sizes, alpha=0.3)
    expected = float(factors.sum())
    spread = 5 * float(np.sqrt(((factors % 1) * (1 - factors % 1)).sum())) + 1
    assert abs(expected - len(docs)) > spread  # the test tells the two apart
    assert abs(sample_out - expected) <= spread, (sample_out, expected, len(docs))


def document_repeat_factors(langs: list[str | None], sizes: list[int], alpha: float) -> np.ndarray:
    """The expected repeats of :func:`document_repeats` (its draw's mean), from the language totals."""
    totals: dict[str | None, int] = {}
    for lang, n in zip(langs, sizes):
        totals[lang] = totals.get(lang, 0) + n
    probs = language_probabilities({str(k): v for k, v in totals.items()}, alpha)
    total = sum(totals.values())
    return np.array([probs[str(lang)] * total / totals[lang] for lang in langs])


def test_build_corpus_counts_detected_languages(tmp_path, shared_data, ray_local):
    """build_corpus.py with ``lang_from: detect``: documents.parquet and build.json's per-language numbers carry the
    detected languages (UDHR files copied under names that say nothing about their language)."""
    src = tmp_path / "crawl"
    src.mkdir()
    for i, name in enumerate(("eng", "rus", "arb", "hin")):
        shutil.copyfile(shared_data / f"text/udhr/{name}.txt", src / f"page{i}.txt")
    out = tmp_path / "out"
    config = tmp_path / "corpus.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(out),
                "sources": [{"name": "crawl", "input": [str(src / "*.txt")], "ingest": {"format": "text", "lang_from": "detect"}}],
                "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
                "shards": {"pack": {"context_length": 512}},
            }
        )
    )
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    build = out / "builds" / os.readlink(out / "builds/CURRENT")
    per_lang = json.loads((build / "build.json").read_text())["per_lang"]
    assert {"eng", "rus", "ara", "hin"} <= set(per_lang)
    # the big four hold nearly all documents (a heading may be guessed as another language)
    assert sum(per_lang[k]["documents"] for k in ("eng", "rus", "ara", "hin")) >= 0.9 * sum(v["documents"] for v in per_lang.values())
    index = pq.read_table(build / "documents.parquet", columns=["source", "lang"]).to_pylist()
    by_file = {f"page{i}.txt": lang for i, lang in enumerate(("eng", "rus", "ara", "hin"))}
    right = sum(row["lang"] == by_file[Path(row["source"]).name] for row in index)
    assert right >= 0.9 * len(index)
