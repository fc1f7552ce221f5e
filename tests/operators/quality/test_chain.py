"""The filter operators on Arrow batches, the filtered sink, the chain wiring, presets and the reconciliation."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.core.config import ConfigError, build_config, load_overrides
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.stages import CountedStage
from tokenmill.operators.io.chain import ingest_stages, stage_names
from tokenmill.operators.ledger.reconcile import reconcile
from tokenmill.operators.quality import (
    FILTER_COLUMNS,
    FILTERED,
    C4Filter,
    FilteredSink,
    GopherRepetitionFilter,
    LanguageScoreFilter,
    QualityConfig,
    quality_operators,
)
from tokenmill.schemas import DOCUMENTS, REJECT_COLUMNS

from .helpers import prose_lines


def _batch(texts: list[str], rejected: set[int] = frozenset(), metas: list[str | None] | None = None, langs: list[str | None] | None = None) -> pa.Table:
    n = len(texts)
    cols = {
        "id": pa.array([f"d{i}" for i in range(n)]),
        "source": pa.array(["web.jsonl"] * n),
        "location": pa.array([str(i) for i in range(n)]),
        "text": pa.array(texts),
        "lang": pa.array(langs or [None] * n, pa.string()),
        "script": pa.nulls(n, pa.string()),
        "n_bytes": pa.array([len(t.encode()) for t in texts], pa.int64()),
        "meta": pa.array(metas or [None] * n, pa.string()),
    }
    for c in REJECT_COLUMNS:
        cols[c] = pa.array(["bad" if i in rejected else None for i in range(n)], pa.string())
    return pa.table(cols)


def _cfg(**quality) -> IngestConfig:
    return IngestConfig(quality=QualityConfig(**quality))


GOOD = "\n".join(prose_lines(12))
REPEATED = "\n\n".join(prose_lines(3) * 4)


def test_operators_mark_and_never_drop_rows(tmp_path):
    batch = _batch([GOOD, REPEATED, REPEATED], rejected={2})
    out = GopherRepetitionFilter(_cfg(preset="gopher"))(batch)
    assert out.num_rows == 3 and set(FILTER_COLUMNS) <= set(out.column_names)
    assert out["_filter_reason"].to_pylist() == [None, "gopher_repetition:dup_para_frac", None]  # a quarantined row is skipped
    assert out["_filter_value"][1].as_py() == pytest.approx(0.75) and out["_filter_threshold"][1].as_py() == 0.3
    # the sink writes the filtered row and hands on the rest, reject columns included, filter columns removed
    sink = FilteredSink(str(tmp_path / "filtered"))
    kept = sink(out)
    assert kept.num_rows == 2 and not set(FILTER_COLUMNS) & set(kept.column_names) and set(REJECT_COLUMNS) <= set(kept.column_names)
    files = list((tmp_path / "filtered").glob("*.parquet"))
    table = pq.read_table(files[0])
    assert len(files) == 1 and table.schema.equals(FILTERED, check_metadata=True)
    assert table.to_pylist() == [
        {
            "id": "d1",
            "source": "web.jsonl",
            "location": "1",
            "reason": "gopher_repetition:dup_para_frac",
            "value": 0.75,
            "threshold": 0.3,
            "excerpt": REPEATED[:200],
        }
    ]
    sink(out)  # a retried task overwrites its own file
    assert list((tmp_path / "filtered").glob("*.parquet")) == files


def test_c4_rewrites_kept_text_and_bytes():
    text = GOOD + "\nPlease enable javascript to continue.\nMenu"
    out = C4Filter(_cfg(preset="fineweb"))(_batch([text]))
    assert out["_filter_reason"].to_pylist() == [None]
    assert out["text"].to_pylist() == [GOOD] and out["n_bytes"].to_pylist() == [len(GOOD.encode())]


def test_language_score_filter():
    metas = [json.dumps({"lang_score": s}) if s is not None else None for s in (0.99, 0.4, 0.95, None)]
    batch = _batch([GOOD] * 4, metas=metas, langs=["eng", "eng", "fra", None])
    op = LanguageScoreFilter(IngestConfig(lang_from="detect", quality=QualityConfig(min_lang_score=0.5, languages=("eng",))))
    out = op(batch)
    assert out["_filter_reason"].to_pylist() == [None, "lang_score:below_threshold", "lang_score:language", "lang_score:below_threshold"]
    assert op.counts == {"kept": 1, "lang_score:below_threshold": 2, "lang_score:language": 1}


def test_presets_and_config_keys():
    assert [type(op).__name__ for op in quality_operators(_cfg(preset="fineweb"))] == [
        "GopherRepetitionFilter",
        "GopherQualityFilter",
        "C4Filter",
        "FineWebQualityFilter",
    ]
    assert [op.STAGE for op in quality_operators(_cfg(preset="gopher"))] == ["gopher_repetition", "gopher_quality"]
    assert [op.STAGE for op in quality_operators(_cfg(preset="c4"))] == ["c4"]
    assert quality_operators(IngestConfig()) == []
    assert QualityConfig(preset="fineweb").c4_terminal_punct is False and QualityConfig(preset="c4").c4_terminal_punct
    cfg = build_config(
        IngestConfig,
        load_overrides(
            None,
            [
                "quality.preset=fineweb",
                "quality.gopher_quality.max_doc_words=null",
                "quality.fineweb.line_punct_thr=0.2",
                "quality.c4.filter_no_terminal_punct=true",
                "quality.gopher_quality.stop_words=[the, and]",
            ],
        ),
    )
    q = cfg.quality
    assert (q.preset, q.gopher_quality.max_doc_words, q.fineweb.line_punct_thr, q.c4_terminal_punct) == ("fineweb", None, 0.2, True)
    assert q.gopher_quality.stop_words == ("the", "and") and q.gopher_repetition.dup_line_frac == 0.3  # the rest: defaults
    with pytest.raises(ConfigError, match="preset"):
        build_config(IngestConfig, load_overrides(None, ["quality.preset=fineweeb"]))
    with pytest.raises(ConfigError, match="dup_line_frac"):
        build_config(IngestConfig, load_overrides(None, ["quality.gopher_repetition.dup_line_frac=1.5"]))
    with pytest.raises(ValueError, match="lang_from=detect"):
        IngestConfig(quality=QualityConfig(min_lang_score=0.5))


def test_chain_wiring(tmp_path):
    stages = ingest_stages("text", _cfg(preset="fineweb"), str(tmp_path / "q"), None, filtered_dir=str(tmp_path / "f"))
    assert stage_names(stages) == ["read", "normalize", "langid", "gopher_repetition", "gopher_quality", "c4", "fineweb", "filtered", "quarantine"]
    assert stage_names(ingest_stages("text", IngestConfig(), str(tmp_path / "q"), None)) == ["read", "normalize", "langid", "quarantine"]
    assert stage_names(ingest_stages("dna", _cfg(preset="fineweb"), str(tmp_path / "q"), None)) == ["read", "quarantine"]
    with pytest.raises(ValueError, match="pipelines/ingest.py only"):  # jobs that do not reconcile filtered/ refuse it
        ingest_stages("text", _cfg(preset="fineweb"), str(tmp_path / "q"), None)
    # a batch through the whole filter chain: documents/v1 rows out, the junk in filtered/
    batch = _batch([GOOD, REPEATED, "Home\nAbout\nContact"])
    for stage in stages[2:]:  # after normalize and langid
        batch = stage(batch)
    assert batch.schema.equals(DOCUMENTS, check_metadata=False) and batch["id"].to_pylist() == ["d0"]
    reasons = sorted(pq.read_table(tmp_path / "f").column("reason").to_pylist())
    assert reasons == ["gopher_repetition:dup_para_frac", "gopher_repetition:top_2_gram"]  # a 3-word page: one bigram is 55 %


def test_reconcile_counts_filtered_documents():
    chain = ["read", "normalize", "gopher_repetition", "filtered", "quarantine"]
    receipts = {
        "read": {"seen": {"a": 10}, "out": {"a": 10}},
        "normalize": {"in": {"a": 10}, "out": {"a": 10}},
        "gopher_repetition": {"in": {"a": 10}, "out": {"a": 10}},
        "filtered": {"in": {"a": 10}, "out": {"a": 7}},
        "quarantine": {"in": {"a": 7}, "out": {"a": 6}},
    }
    counts, problems = reconcile(receipts, chain, {"a": 6}, {"a": 1}, ["a"], filtered={"a": 3})
    assert problems == [] and (counts[0].out, counts[0].quarantined, counts[0].filtered) == (6, 1, 3)
    _, problems = reconcile(receipts, chain, {"a": 6}, {"a": 1}, ["a"], filtered={"a": 2})  # a filtered file lost
    assert any("stage filtered took 10 records but handed on 7 and filtered 2 (1 lost)" in p for p in problems)
    assert any("10 records seen but 6 written + 1 quarantined + 2 filtered = 9 (1 lost)" in p for p in problems)


def test_counted_stage_checks_the_sink_columns(tmp_path):
    stage = CountedStage(FilteredSink(str(tmp_path)), "filtered", None)
    with pytest.raises(ValueError, match="needs columns"):
        stage(_batch([GOOD]))


def test_ingest_config_survives_a_json_round_trip():
    """build_corpus plans carry the ingest config as JSON (dataclasses.asdict) and rebuild it in its workers."""
    import json
    from dataclasses import asdict

    cfg = IngestConfig(lang_from="detect", quality=QualityConfig(preset="fineweb", min_lang_score=0.3, languages=("eng",)))
    assert IngestConfig(**json.loads(json.dumps(asdict(cfg)))) == cfg
    assert IngestConfig(**json.loads(json.dumps(asdict(IngestConfig())))) == IngestConfig()
