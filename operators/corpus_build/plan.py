"""What a corpus build must compute: its partitions (content-addressed), the whole build's key, and which cached
partitions are missing or corrupt."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

from tokenmill.operators.corpus_build.config import BuildConfig
from tokenmill.operators.corpus_build.partition import CorruptPartition, code_fingerprint, partition_key, remove_partition, verify_partition
from tokenmill.operators.io import fingerprint, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.decode import files_without_lang

log = logging.getLogger(__name__)


def plan_partitions(cfg: BuildConfig, tokenizer_hash: str, code: str) -> tuple[list[dict], list[tuple]]:
    """Every partition of every source, in canonical order, and the inputs (uri, size, mtime, fingerprint).

    A partition is a dict: ``key`` (content address), ``source_name``, ``task`` and ``ingest`` (both JSON): the
    arguments of :class:`operators.corpus_build.partition.PartitionBuilder`.
    """
    partitions, inputs = [], []
    for src in cfg.sources:
        files = resolve_inputs(list(src.input), src.ingest.format)
        if src.ingest.lang_from == "filename":  # said on the driver, before any partition is built
            files_without_lang([f.uri for f in files], f"files of source {src.name!r}")
        fps = {f.uri: fingerprint(f.uri) for f in files}
        inputs += [(f.uri, f.size, f.mtime, fps[f.uri]) for f in files]
        for task in plan_read_tasks(files, src.ingest.split_bytes):
            partitions.append(
                {
                    "key": partition_key(task, fps[task["uri"]], src.name, src.ingest, tokenizer_hash, code),
                    "source_name": src.name,
                    "task": json.dumps(task),
                    "ingest": json.dumps(dataclasses.asdict(src.ingest)),
                }
            )
    return partitions, inputs


def build_key(cfg: BuildConfig, keys: list[str], tokenizer_hash: str, code: str) -> str:
    """Content address of a whole build: its partitions, the assembly settings, the tokenizer and the code."""
    assembly = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("output", "keep_builds", "workers")}
    payload = json.dumps(
        {
            "partitions": keys,
            "assembly": assembly,
            "tokenizer": tokenizer_hash,
            "code": code,
            "assemble_code": code_fingerprint(("operators/corpus_build", "operators/pack", "operators/shards")),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def missing_partitions(cache_dir: Path, partitions: list[dict], corrupt: set[str] | None = None) -> list[dict]:
    """The partitions to build: not in the cache, or found corrupt."""
    return [p for p in partitions if p["key"] in (corrupt or set()) or not (cache_dir / p["key"] / "meta.json").is_file()]


def remove_corrupt(cache_dir: Path, partitions: list[dict]) -> set[str]:
    """Verify the cached partitions of this plan (in threads: hashing is I/O and releases the GIL); remove the
    corrupt ones (folders named by their 32-hex key: tokenmill's own) and return their keys."""
    present = list({p["key"]: p for p in partitions if os.path.lexists(cache_dir / p["key"])}.values())

    def check(p: dict) -> CorruptPartition | None:
        try:
            verify_partition(cache_dir / p["key"], p["key"])
        except CorruptPartition as exc:
            return exc
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        problems = list(pool.map(check, present))
    corrupt = set()
    for p, exc in zip(present, problems):
        if exc is None:
            continue
        uri = json.loads(p["task"])["uri"]
        log.warning(
            "cached partition %s (source %s, %s) is corrupt: %s: %s; removing it and recomputing", p["key"], p["source_name"], uri, exc.file, exc.problem
        )
        remove_partition(cache_dir, p["key"])
        corrupt.add(p["key"])
    return corrupt
