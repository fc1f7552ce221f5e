"""Fault tolerance of build_corpus.py on a real multi-node Ray cluster: a killed worker, a removed node, a killed
driver. Each ends with shards byte-identical to a clean build and every document id reconciled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.pipelines import run_scenario
from tests.pipelines.test_build_corpus import summary, write_config
from tokenmill.pipelines import build_corpus

ROOT = Path(__file__).resolve().parents[2]
LANGS = [
    "eng",
    "fra",
    "deu",
    "rus",
    "spa",
    "ita",
    "afr",
    "nld",
    "pol",
    "ces",
    "swe",
    "fin",
    "hun",
    "tur",
    "bel",
    "bul",
    "ukr",
    "hrv",
    "slv",
    "slk",
    "ron",
    "dan",
    "lit",
    "lav",
    "est",
    "isl",
    "cat",
    "eus",
    "glg",
    "vie",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean(tmp_path_factory, shared_data, ray_local):
    root = tmp_path_factory.mktemp("clean")
    config = write_config(root, shared_data, LANGS, root / "out")
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    return root, summary(root / "out")


def _config_for(clean_root: Path, out: Path) -> Path:
    cfg = yaml.safe_load((clean_root / "corpus.yaml").read_text()) | {"output": str(out)}
    path = out.parent / f"{out.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _assert_same_build(result: dict, reference: dict, out: Path) -> None:
    assert result["shard_sha256"] == reference["shard_sha256"]
    assert result["totals"] == reference["totals"]
    ids = pq.read_table(out / "builds" / result["build_id"] / "documents.parquet")["doc_key"].to_pylist()
    assert len(ids) == len(set(ids)) == reference["totals"]["documents"]  # nothing lost, nothing duplicated


@pytest.mark.parametrize("mode", ["worker", "node"])
def test_fault_on_multinode_cluster(mode, clean, tmp_path):
    root, reference = clean
    out = tmp_path / "out"
    config = _config_for(root, out)
    result = run_scenario("fault_scenario.py", mode, str(config), str(out))
    assert result["rc"] == 0 and result["injected"], result["what"]
    _assert_same_build(result["summary"], reference, out)


def test_killed_driver_then_rerun(clean, tmp_path):
    root, reference = clean
    out = tmp_path / "out"
    config = _config_for(root, out)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "pipelines/build_corpus.py"), "--config", str(config), "--quiet", "--num-cpus", "2"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cache = out / "cache" / "partitions"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if cache.is_dir() and len([p for p in cache.iterdir() if not p.name.startswith(".")]) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before the driver could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its embedded Ray
    proc.wait()
    assert not (out / "builds/CURRENT").exists()  # nothing half-built was published
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    result = summary(out)
    assert 0 < result["cache"]["hits"] < result["cache"]["partitions"]  # the rerun reused what was finished
    assert result["cache"]["corrupt"] == 0  # what the killed run finished is whole: renamed only when complete
    assert not list(cache.glob(".tmp-*")) and not list((out / "builds").glob(".tmp-*"))  # its leftovers are gone
    _assert_same_build(result, reference, out)
