"""User errors fail before Ray starts: exit 2 with a one-line message naming the path and the fix, no Ray started,
no Ray temp dir left behind (a bad --input, --output or --tokenizer, lineage of a folder that is no build); and
--quiet prints only the summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.core.config import ConfigError
from tokenmill.pipelines._inputs import check_inputs

ROOT = Path(__file__).resolve().parents[2]

# Runs one pipeline's main() in a fresh interpreter and reports its exit code, how long main() took and whether
# Ray was started (the pipelines' own imports happen before the clock starts: only the run itself is timed).
_RUNNER = """
import importlib, json, sys, time
import ray
module = importlib.import_module(f"tokenmill.pipelines." + sys.argv[1])
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
    "pack_shards": ["--tokenizer", str(ROOT.parent / "shared/data/tokenizers/gpt2")],
}


def run_main(name: str, args: list[str], tmp_path: Path) -> tuple[dict, str, str]:
    """Run ``pipelines.<name>.main(args)`` in a fresh interpreter: (result, stdout, stderr); no Ray temp dir left."""
    # The embedded Ray would create tokenmill-ray-* here; a short path, as Ray's sockets live under it (AF_UNIX paths
    # are limited to 107 bytes).
    temp = Path(tempfile.mkdtemp(prefix="tm-"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(TMPDIR=str(temp), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, name, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not list(temp.glob("tokenmill-ray-*"))
    shutil.rmtree(temp)
    return result, proc.stdout.strip().rsplit("\n", 1)[0] if "\n" in proc.stdout.strip() else "", proc.stderr


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_glob_matching_nothing_exits_2_before_ray(name, tmp_path):
    pattern = str(tmp_path / "nowhere" / "*.jsonl")
    result, _, stderr = run_main(name, ["--input", pattern, "--output", str(tmp_path / "out"), "--quiet", *PIPELINES[name]], tmp_path)
    assert result["code"] == 2, stderr
    assert f"--input {pattern}: the glob matched no files" in stderr
    assert result["ray"] is False
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


def one_line_error(result: dict, stderr: str) -> str:
    """The run exited 2 before Ray with exactly one line on stderr; that line."""
    assert result["code"] == 2 and result["ray"] is False, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_output_that_is_a_file_or_under_one(tmp_path, shared_data):
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    eng = str(shared_data / "text/udhr/eng.txt")
    line = one_line_error(*run_main("ingest", ["--input", eng, "--output", str(afile), "--quiet"], tmp_path)[::2])
    assert f"{afile} is a file; give a folder" in line
    line = one_line_error(*run_main("dna_bpe", ["--input", eng, "--output", str(afile / "out")], tmp_path)[::2])
    assert f"{afile / 'out'} cannot be created: {afile} is a file" in line
    assert afile.read_text() == "mine\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: an unwritable folder cannot be made here")
def test_unwritable_output(tmp_path, shared_data):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    line = one_line_error(*run_main("ingest", ["--input", str(shared_data / "text/udhr/eng.txt"), "--output", str(locked / "out")], tmp_path)[::2])
    assert f"{locked} is not writable" in line


@pytest.mark.parametrize("name", ["pack_shards", "dynamic_tokenize"])
def test_missing_or_corrupt_tokenizer(name, tmp_path, shared_data):
    eng = ["--input", str(shared_data / "text/udhr/eng.txt"), "--output", str(tmp_path / "out")]
    line = one_line_error(*run_main(name, [*eng, "--tokenizer", str(tmp_path / "nope")], tmp_path)[::2])
    assert f"{tmp_path / 'nope'} does not exist" in line
    broken = tmp_path / "tokenizer.json"  # a real tokenizer.json cut short, as an interrupted copy leaves it
    broken.write_bytes((shared_data / "tokenizers/bert-base-uncased/tokenizer.json").read_bytes()[:5000])
    line = one_line_error(*run_main(name, [*eng, "--tokenizer", str(broken)], tmp_path)[::2])
    assert f"cannot parse tokenizer.json at {broken}" in line and "re-export" in line


def test_lineage_of_a_folder_that_is_no_build(tmp_path):
    (tmp_path / "shards").mkdir()
    line = one_line_error(*run_main("lineage", [str(tmp_path), "--shard", "0", "--row", "0"], tmp_path)[::2])
    assert f"{tmp_path} is not a published build" in line and "OUT/builds/CURRENT" in line


def test_quiet_prints_only_the_summary(tmp_path, shared_data):
    args = [
        "--input",
        str(shared_data / "text/udhr/eng.txt"),
        "--output",
        str(tmp_path / "out"),
        "--quiet",
        "--tokenizer",
        str(shared_data / "tokenizers/gpt2"),
        "--num-cpus",
        "2",
    ]
    result, stdout, stderr = run_main("pack_shards", args, tmp_path)
    assert result["code"] == 0, stderr
    # Ray's C++ core logs one line about actor restarts that no setting silences short of turning restarts off
    # (ray-project/ray#53727); everything else on stderr is noise --quiet must remove.
    noise = [l for l in stderr.splitlines() if l.strip() and "core_worker.cc" not in l]
    assert noise == [], stderr
    assert stdout.startswith("read: ") and "\nshards: " in stdout and "verify: " in stdout


def test_object_store_output_where_a_job_writes_local_folders_only(tmp_path, shared_data):
    line = one_line_error(*run_main("romanize", ["--input", str(shared_data / "text/udhr/eng.txt"), "--output", "s3://bucket/romanized"], tmp_path)[::2])
    assert "s3://bucket/romanized: this job writes a local folder" in line
    assert not (ROOT / "s3:").exists()
