"""The README's cluster recipe, run as written: `make cluster`, `ray job submit` of dna_bpe.py and build_corpus.py,
status and logs, `make cluster-stop`; the jobs' outputs equal embedded runs' byte for byte, and the stop leaves the
session's own Ray running."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import ray
import yaml

from tests.pipelines.test_dna_bpe_same_bytes import _fingerprint
from tokenmill.pipelines import build_corpus, dna_bpe

ROOT = Path(__file__).resolve().parents[2]


def readme_recipe() -> str:
    """The bash block after ``<!-- recipe: cluster -->`` in README.md, exactly as a reader copies it."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- recipe: cluster -->\n```bash\n(.*?)\n```", text, re.S)
    assert found, "README.md lost its cluster recipe block"
    return found.group(1)


def small_inputs(shared_data: Path, root: Path) -> tuple[str, Path]:
    """Two small genomes for dna_bpe, and a three-language corpus YAML for build_corpus (absolute paths)."""
    dna = root / "dna"
    dna.mkdir()
    for name in ("lambda_phage.fa", "sarscov2_NC_045512.2.fasta"):
        shutil.copy(shared_data / "dna" / name, dna / name)
    corpus = root / "corpus.yaml"
    corpus.write_text(
        yaml.safe_dump(
            {
                "output": str(root / "unused"),  # the recipe sets output
                "sources": [
                    {
                        "name": "udhr",
                        "input": [str(shared_data / f"text/udhr/{lang}.txt") for lang in ("eng", "fra", "rus")],
                        "ingest": {"format": "text", "lang_from": "filename"},
                    }
                ],
                "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
                "shards": {"pack": {"context_length": 512}},
            }
        )
    )
    return str(dna / "*"), corpus


def build_fingerprint(out: Path) -> dict:
    """The build's shards as _fingerprint sees them, less the build id (a time and a random token) they record."""
    build = out / "builds" / os.readlink(out / "builds/CURRENT")
    found = _fingerprint(build / "shards")
    assert found["manifest"]["source"].pop("build_id") == build.name
    return found


@pytest.mark.slow
def test_readme_cluster_recipe(shared_data, tmp_path, ray_local):
    dna, corpus = small_inputs(shared_data, tmp_path)
    head_dir = Path(tempfile.mkdtemp(prefix="tmh-"))  # short: the head's sockets live there
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MAKEFLAGS", "MFLAGS")}
    env.update(DNA=dna, CORPUS=str(corpus), OUT=str(tmp_path / "job"), RAY_HEAD_DIR=str(head_dir), RAY_USAGE_STATS_ENABLED="0")
    try:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_recipe()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    finally:
        if (head_dir / "head.json").exists():  # the recipe failed before its last line: stop the head here
            subprocess.run(
                [str(ROOT / ".venv/bin/python"), "-m", "tokenmill.operators.core.ray_head", "stop", "--dir", str(head_dir)], cwd=ROOT, env=env, timeout=120
            )
    log = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, log
    assert re.search(r"Job 'dna-bpe-\d+' succeeded", proc.stdout + proc.stderr), log  # ray job status
    assert "stopped the head" in proc.stdout, log
    assert not (head_dir / "head.json").exists()
    assert ray.is_initialized() and ray.cluster_resources().get("CPU")  # the session's own Ray still runs
    shutil.rmtree(head_dir, ignore_errors=True)

    # the same commands embedded give the same bytes
    embedded = tmp_path / "embedded"
    assert dna_bpe.main(["--input", dna, "--output", str(embedded / "dna"), "--quiet"]) == 0
    assert build_corpus.main(["--config", str(corpus), "--set", f"output={embedded / 'corpus'}", "--quiet"]) == 0
    job = tmp_path / "job"
    assert (job / "dna/tokenizer/tokenizer.json").read_bytes() == (embedded / "dna/tokenizer/tokenizer.json").read_bytes()
    assert _fingerprint(job / "dna/shards") == _fingerprint(embedded / "dna/shards")
    a, b = build_fingerprint(job / "corpus"), build_fingerprint(embedded / "corpus")
    assert a["manifest"]["totals"]["documents"] > 100 and a == b
    assert json.loads((job / "dna/shards/manifest.json").read_text())["totals"]["documents"] > 10
