"""Worker-side packing of a build: the kept rows of cached partitions → shard parts in Ray workers; the driver
only commits.

Assembly (:mod:`operators.corpus_build.assemble`) decides on the driver, from each partition's ids, hashes and token
counts, which rows are kept and how often (dedup, weights). This module packs those rows: groups are runs of
consecutive partitions in canonical order holding at least ``shards.shard_tokens`` kept tokens each, packed by a
pool of :class:`GroupPacker` actors, each group within itself (its last rows are flushed: at the default 32 M
tokens a group wastes well under 0.1 % of its slots). The shards therefore depend only on the partitions and the
config, never on the number of workers, and appending inputs at the end of the canonical order leaves every
earlier group, and so its shards, as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa

from tokenmill.operators.core.runtime import ray_workers, run_partitions
from tokenmill.operators.corpus_build.partition import load_partition
from tokenmill.operators.io import runs_of_at_least
from tokenmill.operators.shards import ShardWriter, ShardWriterConfig, commit_shards


class GroupPacker:
    """Callable on a batch of groups (columns ``index``, ``name``, ``items`` JSON); packs each, returns descriptors.

    Every partition is read again through :func:`operators.corpus_build.partition.load_partition` (its bytes checked
    against its checksums), and the ids at the kept rows must be the ones assembly decided on.
    """

    def __init__(self, *, cache_dir: str, shards_dir: str, shard_cfg: ShardWriterConfig, vocab_size: int, tokenizer_hash: str, run_id: str) -> None:
        self.cache_dir, self.shards_dir, self.shard_cfg = Path(cache_dir), shards_dir, shard_cfg
        self.vocab_size, self.tokenizer_hash, self.run_id = vocab_size, tokenizer_hash, run_id

    def __call__(self, batch: pa.Table) -> pa.Table:
        parts = [self.pack(r["index"], r["name"], json.loads(r["items"])) for r in batch.to_pylist()]
        return pa.table({"index": [p["index"] for p in parts], "part": [json.dumps(p) for p in parts]})

    def pack(self, index: int, name: str, items: list[dict]) -> dict:
        """Pack the kept rows of one group into shard parts named after ``name``; return its descriptor."""
        with ShardWriter.for_part(
            self.shards_dir, self.shard_cfg, vocab_size=self.vocab_size, tokenizer_hash=self.tokenizer_hash, run_id=self.run_id, name=name, part=index
        ) as writer:
            for item in items:
                _, tokens, _, _ = load_partition(self.cache_dir / item["key"], item["key"])
                kept = tokens.take(pa.array(item["rows"], pa.int64()))
                found = kept["id"].to_pylist()
                if any(doc != want and not want.startswith(f"{doc}#") for doc, want in zip(found, item["ids"])):
                    raise RuntimeError(
                        f"cached partition {item['key']} changed during the build: its rows are not the documents assembly chose; rerun the build"
                    )
                writer.add_table(kept.set_column(0, "id", pa.array(item["ids"], pa.string())), id_column="id")
            part = writer.close()
        return {"index": index, **part}


def pack_groups(
    items: list[dict],
    cache_dir: Path,
    shards_dir: Path,
    shard_cfg: ShardWriterConfig,
    engine,
    run_id: str,
    build_id: str,
    workers: int,
) -> dict:
    """Pack the kept rows ``items`` (``key``, ``rows``, ``ids``, ``tokens`` of one partition each, in canonical
    order) into ``shards_dir`` in up to ``workers`` Ray workers (0: one per CPU; a running Ray is needed) and commit
    the manifest; return it."""
    shards_dir.mkdir(parents=True, exist_ok=True)
    groups = runs_of_at_least(items, lambda item: item["tokens"], shard_cfg.shard_tokens)
    tasks = [{"index": i, "name": hashlib.sha256(f"{build_id}/{i}".encode()).hexdigest()[:16], "items": json.dumps(g)} for i, g in enumerate(groups)]
    parts = run_partitions(
        GroupPacker,
        tasks,
        {
            "cache_dir": str(cache_dir),
            "shards_dir": str(shards_dir),
            "shard_cfg": shard_cfg,
            "vocab_size": engine.vocab_size,
            "tokenizer_hash": engine.sha256,
            "run_id": run_id,
        },
        ray_workers(workers),
    )
    return commit_shards(
        shards_dir,
        parts,
        config=shard_cfg,
        vocab_size=engine.vocab_size,
        tokenizer_hash=engine.sha256,
        run_id=run_id,
        source={"build_id": build_id, "groups": len(parts)},
    )


__all__ = ["GroupPacker", "pack_groups"]
