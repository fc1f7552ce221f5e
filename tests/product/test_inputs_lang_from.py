"""``ingest.lang_from=filename`` says so when a file name holds no language code (UDHR's ``007.txt``): the readers
warn once per such file (from its first task), and the driver names them all, with their count, before Ray starts
(multilingual_tokenizer's input check, build_corpus's plan). Before: ``lang`` was left NULL without a word."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.corpus_build.config import load_build_config
from tokenmill.operators.corpus_build.plan import plan_partitions
from tokenmill.operators.io.decode import files_without_lang
from tokenmill.operators.io.jsonl_reader import read_jsonl
from tokenmill.operators.io.parquet_reader import read_parquet
from tokenmill.operators.io.text_reader import read_text
from tokenmill.pipelines._inputs import check_inputs

ROOT = Path(__file__).resolve().parents[2]
CFG = IngestConfig(lang_from="filename")
WARNING = "ingest.lang_from=filename: no language code in the file name"


def _langs(tables: list[pa.Table]) -> list:
    return [x for t in tables for x in t.column("lang").to_pylist()]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def corpus(tmp_path):
    for stem in ("eng", "007"):
        (tmp_path / f"{stem}.txt").write_text("one line\nanother line\n")
        (tmp_path / f"{stem}.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
        pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / f"{stem}.parquet")
    return tmp_path


@pytest.mark.parametrize("ext,read", [("txt", read_text), ("jsonl", read_jsonl), ("parquet", read_parquet)])
def test_each_reader_warns_for_a_file_without_a_language(ext, read, corpus, caplog):
    def task(stem: str, **more) -> dict:
        base = {"uri": str(corpus / f"{stem}.{ext}"), "compression": None, "format": ext}
        return base | ({"row_group": 0} if ext == "parquet" else {"start": 0, "end": -1}) | more

    caplog.set_level(logging.WARNING)
    assert set(_langs(list(read(task("eng"), CFG)))) == {"eng"}
    assert _warnings(caplog) == []
    assert set(_langs(list(read(task("007"), CFG)))) == {None}
    (warning,) = _warnings(caplog)
    assert warning.startswith(f"{WARNING} {corpus / f'007.{ext}'}; its documents get lang=NULL")
    if ext != "parquet":  # a later byte range of the same file: already said by its first task
        caplog.clear()
        list(read(task("007", start=4), CFG))
        assert _warnings(caplog) == []
    caplog.clear()
    list(read(task("007"), IngestConfig(lang_from="none")))  # not asked for a language: nothing to say
    assert _warnings(caplog) == []


def test_the_driver_names_them_all_with_their_count(corpus, caplog):
    caplog.set_level(logging.WARNING)
    assert files_without_lang([str(corpus / "eng.txt"), str(corpus / "deu_1901.txt")]) == []
    assert _warnings(caplog) == []
    check_inputs([str(corpus / "eng.txt"), str(corpus / "007.txt"), str(corpus / "007.jsonl")], lang_from="filename")
    (warning,) = _warnings(caplog)
    assert "2 of 3 input files have no language code in their name" in warning
    assert str(corpus / "007.txt") in warning and str(corpus / "007.jsonl") in warning and f"{corpus / 'eng.txt'}" not in warning
    caplog.clear()
    check_inputs([str(corpus / "007.txt")])  # lang_from=none: the names do not matter
    assert _warnings(caplog) == []
    many = [str(corpus / f"{i:03d}.txt") for i in range(14)]
    assert files_without_lang(many) == many
    assert "14 of 14" in _warnings(caplog)[-1] and "and 4 more" in _warnings(caplog)[-1]


def test_build_corpus_plan_names_them(corpus, caplog, shared_data):
    config = corpus / "corpus.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(corpus / "out"),
                "tokenizer": {"path": str(shared_data / "tokenizers/gpt2")},
                "sources": [{"name": "web", "input": [str(corpus / "*.txt")], "ingest": {"format": "text", "lang_from": "filename"}}],
            }
        )
    )
    caplog.set_level(logging.WARNING)
    partitions, _ = plan_partitions(load_build_config(config), "tok", "code")
    assert len(partitions) == 2
    (warning,) = _warnings(caplog)
    assert "1 of 2 files of source 'web' have no language code" in warning and str(corpus / "007.txt") in warning


def test_ingest_run_says_which_file_got_no_language(corpus, tmp_path):
    """The real job, as a user runs it: the warning reaches the terminal (from the Ray worker that read the file)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "pipelines/ingest.py"),
            "--input",
            str(corpus / "eng.txt"),
            "--input",
            str(corpus / "007.txt"),
            "--set",
            "ingest.lang_from=filename",
            "--output",
            str(tmp_path / "out"),
            "--quiet",
            "--num-cpus",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [line for line in proc.stderr.splitlines() if WARNING in line]
    assert len(said) == 1 and f"{corpus / '007.txt'}; its documents get lang=NULL" in said[0], proc.stderr[-3000:]
    langs = {json.dumps(r) for r in pq.read_table(tmp_path / "out/documents").column("lang").to_pylist()}
    assert langs == {'"eng"', "null"}
