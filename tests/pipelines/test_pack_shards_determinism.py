"""Worker-side shards depend only on the inputs and the config: 1 worker, 3 workers, a 3-node cluster, same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipelines import run_scenario
from tokenmill.operators.shards import verify_shard_set
from tokenmill.pipelines import pack_shards

ROOT = Path(__file__).resolve().parents[2]


def _corpus(root: Path, shared_data: Path) -> list[str]:
    """Five inputs of ~0.5–1.5 MB in three formats: with partition_bytes=1 MiB they make several partitions."""
    root.mkdir()
    langs = ["eng", "rus", "deu", "arb", "cmn_hans"]
    for k, lang in enumerate(langs):
        lines = [l for l in (shared_data / f"text/udhr/{lang}.txt").read_text().splitlines() if l.strip()]
        docs = [" ".join(lines[(i + j) % len(lines)] for j in range(1 + i % 7)) for i in range(600 + 300 * k)]
        if k % 2:
            (root / f"{lang}.txt").write_text("\n".join(docs) + "\n")
        else:
            (root / f"{lang}.jsonl").write_text("".join(json.dumps({"text": d, "n": i}) + "\n" for i, d in enumerate(docs)))
    return [str(root / "*")]


def _fingerprint(out: Path) -> dict:
    """Everything a reader sees, except the run id and the commit time."""
    manifest = json.loads((out / "shards/manifest.json").read_text())
    manifest.pop("run_id"), manifest.pop("created_utc")
    shards = out / "shards"
    files = {p.relative_to(shards).as_posix(): p.read_bytes() for p in sorted(shards.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    return {"manifest": manifest, "files": files}


ARGS = ["--quiet", "--set", "partition_bytes=1048576", "--set", "shards.pack.context_length=512", "--set", "shards.shard_tokens=60000"]


@pytest.mark.slow
def test_same_bytes_for_1_and_3_workers_and_a_3_node_cluster(tmp_path, shared_data, ray_local):
    inputs = _corpus(tmp_path / "corpus", shared_data)
    tok = str(shared_data / "tokenizers/gpt2")
    runs = {}
    for workers in (1, 3):
        out = tmp_path / f"w{workers}"
        assert pack_shards.main(["--input", *inputs, "--tokenizer", tok, "--output", str(out), "--set", f"workers={workers}", *ARGS]) == 0
        runs[workers] = _fingerprint(out)
    out = tmp_path / "cluster"
    result = run_scenario("cluster_run.py", "pack_shards", "--input", *inputs, "--tokenizer", tok, "--output", str(out), "--set", "workers=3", *ARGS)
    assert result == {"rc": 0, "nodes": 3}
    runs["cluster"] = _fingerprint(out)
    reference = runs[1]
    assert reference["manifest"]["source"]["partitions"] >= 4 and reference["manifest"]["totals"]["shards"] >= 4
    assert runs[3] == reference and runs["cluster"] == reference
    assert verify_shard_set(out / "shards").ok
    # packing within partitions stays dense and never crosses documents
    totals = reference["manifest"]["totals"]
    assert totals["utilization"] >= 0.99 and totals["cross_document_attention"] == 0
