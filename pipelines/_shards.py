"""Driver-side packing shared by pipelines: stream a tokenized Ray dataset into one atomically committed shard set."""

from __future__ import annotations

import time
from pathlib import Path

import ray

from operators.ledger import Ledger
from operators.shards import ShardWriter, ShardWriterConfig


def pack_dataset(ds: "ray.data.Dataset", shards_dir: Path, cfg: ShardWriterConfig, *, vocab_size: int,
                 tokenizer_hash: str, run_id: str, ledger: Ledger, id_column: str = "id") -> dict:
    """Pack ``ds`` (columns ``id_column`` and ``input_ids``) into ``shards_dir``; return the manifest.

    Batches arrive in dataset order (pipelines set ``preserve_order``), so the same input gives the same shards.
    """
    t0 = time.perf_counter()
    with ShardWriter(shards_dir, cfg, vocab_size=vocab_size, tokenizer_hash=tokenizer_hash, run_id=run_id) as writer:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=8192):
            writer.add_table(batch, id_column=id_column, ids_column="input_ids")
    manifest = writer.manifest
    totals = manifest["totals"]
    ledger.add_stage("pack_shards", rows_in=totals["documents"], rows_out=totals["rows"], rows_quarantined=0,
                     bytes=totals["tokens"], seconds=time.perf_counter() - t0)
    ledger.add_artifact(shards_dir, "shards")
    return manifest
