"""Same inputs and config, same bytes (DESIGN.md rule 13): dna_bpe.py embedded, as a ``ray job submit`` to a real
head and on a 3-node cluster writes byte-identical tokens and shard sets, over many encode batches and several
partitions (so arrival order would show), and segments laid out differently in files give the same bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import run_ray_job
from tests.pipelines import run_scenario
from tokenmill.operators.shards.part_writer import SEGMENT_KEY
from tokenmill.pipelines import dna_bpe

# Small enough for well under a minute, large enough for ~18 encode batches of 16 segments.
SETTINGS = ["--quiet", "--set", "vocab_size=300", "--set", "encode.batch_size=16", "--set", "shards.pack.context_length=1024", "--set", "partition_bp=60000"]


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
    files = [{kind: hashlib.sha256((shards / f["path"]).read_bytes()).hexdigest() for kind, f in s["files"].items()} for s in manifest["shards"]]
    for s in manifest["shards"]:
        for f in s["files"].values():
            f["path"] = f["path"].replace(s["name"], "SHARD")
        s["name"] = "SHARD"
    for key in ("created_utc", "run_id"):
        manifest.pop(key)
    return {"files": files, "manifest": manifest}


def _segments(shared_data: Path) -> pa.Table:
    """Real DNA in 1000-bp segments: two sources, each genome cut into three records (dna_segments/v1 columns)."""
    rows = []
    for name in ("lambda_phage.fa", "sarscov2_NC_045512.2.fasta"):
        seq = "".join(l.strip() for l in (shared_data / "dna" / name).read_text().splitlines() if not l.startswith(">"))
        third = len(seq) // 3
        for r in range(3):
            record = seq[r * third : (r + 1) * third]
            for off in range(0, len(record), 1000):
                rows.append({"id": f"{name}-{r}-{off}", "source": f"/data/{name}", "record": f"rec{r}", "offset": off, "seq": record[off : off + 1000]})
    return pa.Table.from_pylist(rows)


def test_tokens_and_shards_follow_the_segment_key_not_the_file_layout(ray_local, tmp_path, shared_data):
    """encode_and_pack in workers writes the same tokens and shard bytes whether the segments sit in one sorted file
    (1 worker) or shuffled over 7 files (3 workers): partitions are runs of (source, record) in key order."""
    import numpy as np
    import pyarrow.parquet as pq

    from tokenmill.operators.bpe import BpeTrainerConfig, save_hf_tokenizer, train_bpe
    from tokenmill.operators.ledger import Ledger
    from tokenmill.operators.pack import PackerConfig
    from tokenmill.operators.shards import ShardWriterConfig, verify_shard_set
    from tokenmill.pipelines._dna import encode_and_pack

    table = _segments(shared_data)
    tok = save_hf_tokenizer(train_bpe([table.select(["seq"])], BpeTrainerConfig(vocab_size=300)), tmp_path / "tok")
    sorted_dir, shuffled_dir = tmp_path / "seg_sorted", tmp_path / "seg_shuffled"
    sorted_dir.mkdir(), shuffled_dir.mkdir()
    pq.write_table(table.sort_by([(k, "ascending") for k in SEGMENT_KEY]), sorted_dir / "a.parquet")
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    for k in range(7):
        pq.write_table(shuffled.slice(k * 20, 20) if k < 6 else shuffled.slice(120), shuffled_dir / f"p{k}.parquet", row_group_size=5)
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=512, bos_id=1, eos_id=2, pad_id=3, split_to_fill=64), shard_tokens=4000)
    runs = []
    for i, (segments, workers) in enumerate([(sorted_dir, 1), (shuffled_dir, 3)]):
        out = tmp_path / f"out{i}"
        ledger = Ledger(tmp_path / f"l{i}.duckdb")
        run_id = ledger.start_run("test", {})
        manifest = encode_and_pack(
            {"train": segments},
            {"train": out / "tokens"},
            tok / "tokenizer.json",
            out / "shards",
            cfg,
            batch_size=16,
            workers=workers,
            partition_bp=12_000,
            segment_length=1000,
            ledger=ledger,
            run_id=run_id,
        )
        stages = dict(ledger.con.execute("SELECT stage, rows_out FROM stages WHERE run = ?", [run_id]).fetchall())
        ledger.close()
        assert manifest["source"]["partitions"] >= 4 and stages["encode_train"] == table.num_rows
        assert verify_shard_set(out / "shards").ok
        tokens = pq.read_table(out / "tokens").sort_by([(k, "ascending") for k in SEGMENT_KEY])
        runs.append((_fingerprint(out / "shards"), tokens.to_pylist()))
    assert runs[0][0]["manifest"]["totals"]["documents"] == table.num_rows
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_embedded_ray_job_and_3_node_cluster_write_the_same_bytes(ray_local, ray_head, small_inputs, tmp_path):
    embedded = tmp_path / "embedded"
    assert dna_bpe.main([*_inputs_args(small_inputs), "--output", str(embedded), *SETTINGS, "--set", "train_workers=1", "--set", "workers=1"]) == 0

    job = tmp_path / "job"
    run_ray_job(
        ray_head, "pipelines/dna_bpe.py", *_inputs_args(small_inputs), "--output", str(job), *SETTINGS, "--set", "train_workers=2", "--set", "workers=2"
    )

    # a real 3-node cluster (ray.cluster_utils.Cluster, 1 CPU a node): 3 BPE actors, 3 encode/pack workers
    cluster = tmp_path / "cluster"
    result = run_scenario("cluster_run.py", "dna_bpe", *_inputs_args(small_inputs), "--output", str(cluster), *SETTINGS, "--set", "workers=3")
    assert result == {"rc": 0, "nodes": 3}

    a = _fingerprint(embedded / "shards")
    assert a["manifest"]["totals"]["documents"] > 16 * 10 and a["manifest"]["source"]["partitions"] >= 2
    for other in (job, cluster):
        assert (embedded / "tokenizer/tokenizer.json").read_bytes() == (other / "tokenizer/tokenizer.json").read_bytes()
        b = _fingerprint(other / "shards")
        assert a["manifest"] == b["manifest"]
        assert a["files"] == b["files"], _first_difference(embedded / "shards", other / "shards")
        assert _tokens(embedded) == _tokens(other)


def _tokens(out: Path) -> list[dict]:
    """OUT/tokens in document-key order."""
    import pyarrow.parquet as pq

    return pq.read_table(out / "tokens").sort_by([(k, "ascending") for k in SEGMENT_KEY]).to_pylist()


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
