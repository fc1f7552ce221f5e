"""A bad --input fails before Ray starts: exit 2 with the message, no Ray started, no Ray temp dir left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.core.config import ConfigError
from pipelines._inputs import check_inputs

ROOT = Path(__file__).resolve().parents[2]

# Runs one pipeline's main() in a fresh interpreter and reports its exit code, how long main() took and whether
# Ray was started (the pipelines' own imports happen before the clock starts: only the run itself is timed).
_RUNNER = """
import importlib, json, sys, time
import ray
module = importlib.import_module("pipelines." + sys.argv[1])
t0 = time.perf_counter()
try:
    code = module.main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "seconds": time.perf_counter() - t0, "ray": ray.is_initialized()}))
"""

PIPELINES = {
    "ingest": [],
    "dna_bpe": [],
    "romanize": [],
    "pack_shards": ["--tokenizer", "never-loaded.json"],  # the inputs fail first
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_glob_matching_nothing_exits_2_before_ray(name, tmp_path):
    temp = tmp_path / "tmp"  # the embedded Ray would create tokenmill-ray-* here
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(TMPDIR=str(temp), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    pattern = str(tmp_path / "nowhere" / "*.jsonl")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, name, "--input", pattern, "--output", str(tmp_path / "out"),
                           "--quiet", *PIPELINES[name]], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 2, proc.stderr
    assert f"--input {pattern}: the glob matched no files" in proc.stderr
    assert result["ray"] is False
    assert not list(temp.glob("tokenmill-ray-*"))
    led = duckdb.connect(str(tmp_path / "out" / "ledger.duckdb"), read_only=True)
    status, error = led.execute("SELECT status, error FROM runs").fetchone()
    assert status == "failed" and "matched no files" in error


def test_folder_of_documents_counts_as_its_parquet_files(tmp_path):
    docs = tmp_path / "documents"
    docs.mkdir()
    pq.write_table(pa.table({"text": ["a"]}), docs / "part-0.parquet")
    assert [f.uri for f in check_inputs([str(docs)])] == [str(docs / "part-0.parquet")]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        check_inputs([str(empty)])
    with pytest.raises(ConfigError, match="no such file"):
        check_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(ConfigError, match="no --input"):
        check_inputs([])
