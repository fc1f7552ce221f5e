"""Same inputs and config, same bytes (DESIGN.md rule 13): dna_bpe.py embedded and as a ``ray job submit`` to a
real head write byte-identical shard sets, over many encode batches (so arrival order would show)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipelines import dna_bpe
from tests.conftest import submit_ray_job

ROOT = Path(__file__).resolve().parents[2]
# Small enough for well under a minute, large enough for ~18 encode batches of 16 segments.
SETTINGS = ["--quiet", "--set", "vocab_size=300", "--set", "encode_batch_size=16",
            "--set", "shards.pack.context_length=1024"]


@pytest.fixture(scope="module")
def small_inputs(shared_data, tmp_path_factory) -> list[str]:
    """Two FASTA files (three records): lambda phage, and SARS-CoV-2 plus the first ~200 kbp of E. coli."""
    d = tmp_path_factory.mktemp("same_bytes_in")
    ecoli = (shared_data / "dna/ecoli_k12_mg1655_GCF_000005845.2.fna").read_text().splitlines()
    mixed = (shared_data / "dna/sarscov2_NC_045512.2.fasta").read_text().rstrip("\n") + "\n"
    mixed += "\n".join(ecoli[:2500]) + "\n"
    (d / "mixed.fa").write_text(mixed)
    return [str(shared_data / "dna/lambda_phage.fa"), str(d / "mixed.fa")]


def _inputs_args(inputs: list[str]) -> list[str]:
    return [a for p in inputs for a in ("--input", p)]


def _fingerprint(shards: Path) -> dict:
    """Every file of a shard set by sha256, in manifest order.

    A shard's file *names* carry a token unique to the writing run (so a new set never overwrites a file of the
    committed one, see operators/shards/manifest.py) and the manifest records when and by which run it was
    written; everything else must be identical.
    """
    manifest = json.loads((shards / "manifest.json").read_text())
    listed = {f["path"] for s in manifest["shards"] for f in s["files"].values()}
    on_disk = {p.relative_to(shards).as_posix() for p in shards.rglob("*") if p.is_file()} - {"manifest.json"}
    assert on_disk == listed, f"files the manifest does not list: {sorted(on_disk - listed)}"
    files = [{kind: hashlib.sha256((shards / f["path"]).read_bytes()).hexdigest() for kind, f in s["files"].items()}
             for s in manifest["shards"]]
    for s in manifest["shards"]:
        for f in s["files"].values():
            f["path"] = f["path"].replace(s["name"], "SHARD")
        s["name"] = "SHARD"
    for key in ("created_utc", "run_id"):
        manifest.pop(key)
    return {"files": files, "manifest": manifest}


def test_packing_follows_the_document_key_not_the_arrival_order(ray_local, tmp_path):
    """pack_dataset(order_by=SEGMENT_KEY) writes the same bytes whatever order the blocks come in."""
    import numpy as np
    import pyarrow as pa
    import ray

    from operators.ledger import Ledger
    from operators.pack import PackerConfig
    from operators.shards import ShardWriterConfig
    from pipelines._shards import pack_dataset

    rng = np.random.default_rng(0)
    n = 600
    lengths = rng.integers(5, 300, n)
    table = pa.table({
        "id": [f"{i:016x}" for i in rng.permutation(n)],
        "source": [f"/data/g{i % 3}.fa" for i in range(n)],
        "record": [f"chr{(i // 3) % 4}" for i in range(n)],
        "offset": [1000 * (i // 12) for i in range(n)],
        "input_ids": [rng.integers(5, 300, k).tolist() for k in lengths],
    })
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=512, bos_id=1, eos_id=2, pad_id=3, split_to_fill=64))
    fingerprints = []
    for i, ds in enumerate([ray.data.from_arrow(table.sort_by([(k, "ascending") for k in dna_bpe.SEGMENT_KEY])),
                            ray.data.from_arrow(table).repartition(7).random_shuffle(seed=1)]):
        ledger = Ledger(tmp_path / f"l{i}.duckdb")
        run_id = ledger.start_run("test", {})
        pack_dataset(ds, tmp_path / f"s{i}", cfg, vocab_size=512, tokenizer_hash="t", run_id=run_id, ledger=ledger,
                     order_by=dna_bpe.SEGMENT_KEY)
        ledger.close()
        fingerprints.append(_fingerprint(tmp_path / f"s{i}"))
    assert fingerprints[0]["manifest"]["totals"]["documents"] == n
    assert fingerprints[0] == fingerprints[1]


@pytest.mark.slow
def test_embedded_and_ray_job_write_the_same_bytes(ray_local, ray_head, small_inputs, tmp_path):
    embedded = tmp_path / "embedded"
    assert dna_bpe.main([*_inputs_args(small_inputs), "--output", str(embedded), *SETTINGS, "--set", "train_workers=1",
                         "--set", "workers=1"]) == 0

    address, env = ray_head
    job = tmp_path / "job"
    proc = submit_ray_job(address, env, ["python", "pipelines/dna_bpe.py", *_inputs_args(small_inputs),
                                         "--output", str(job), *SETTINGS, "--set", "train_workers=2",
                                         "--set", "workers=2"], ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert (embedded / "tokenizer/tokenizer.json").read_bytes() == (job / "tokenizer/tokenizer.json").read_bytes()
    a, b = _fingerprint(embedded / "shards"), _fingerprint(job / "shards")
    assert a["manifest"]["totals"]["documents"] > 16 * 10
    assert a["manifest"] == b["manifest"]
    assert a["files"] == b["files"], _first_difference(embedded / "shards", job / "shards")


def _first_difference(x: Path, y: Path) -> str:
    """Where the token streams of two shard sets first differ (the message of a failed comparison)."""
    import numpy as np

    def tokens(shards: Path) -> np.ndarray:
        manifest = json.loads((shards / "manifest.json").read_text())
        dtype = np.dtype(manifest["token_dtype"])
        return np.concatenate([np.fromfile(shards / s["files"]["bin"]["path"], dtype) for s in manifest["shards"]])

    a, b = tokens(x), tokens(y)
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return f"{len(a)} vs {len(b)} tokens; first differing token index: {int(diff[0]) if len(diff) else n}"
