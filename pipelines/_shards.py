"""Packing shared by pipelines, always worker-side: :class:`PartWriter` actors read, encode, pack and write whole
partitions (:func:`write_partitions`), the driver checks the counts and commits (:func:`commit_parts`).
:func:`pack_in_workers` is raw files or documents → shards (pack_shards.py); dna_bpe.py packs its segments the
same way (pipelines/_dna.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from tokenmill.operators.build.partition import code_fingerprint
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.runtime import run_partitions
from tokenmill.operators.core.stages import load_receipts
from tokenmill.operators.encode import EncodeConfig, load_engine, resolve_eos_id
from tokenmill.operators.io import expand_parquet_folders, fingerprint, parquet_schema, plan_partitions, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.chain import ingest_stages, stage_names
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch
from tokenmill.operators.shards import ShardWriterConfig, commit_shards, set_bytes
from tokenmill.operators.shards.part_writer import DOCUMENTS_FORMAT, PartWriter, part_name
from tokenmill.pipelines._ingest import IngestResult, check_output_owned, clean_stale_staging, open_staging, publish, reconcile_run
from tokenmill.schemas import DOCUMENTS, schema_name

log = logging.getLogger("tokenmill.shards")
# Code whose changes can change shard bytes: part of every shard name, so new code never overwrites old files.
_CODE = ("operators/io", "operators/clean", "operators/encode", "operators/core", "operators/pack", "operators/shards", "schemas")


def write_partitions(items: list[dict], writer_args: dict, workers: int) -> list[dict]:
    """Run :class:`PartWriter` actors (``writer_args``) over the partitions ``items`` (``index``, ``name``, ``tasks``
    JSON), up to ``workers`` at once, each tokenizer on its share of the CPUs; return their descriptors in partition
    order (see :func:`operators.core.runtime.run_partitions`)."""
    return run_partitions(PartWriter, items, writer_args, workers, cpu_share_arg="encode_threads")


def documents_per_source(parts: list[dict]) -> dict[str, int]:
    """Documents the workers handed to their packers, per source, summed over partitions (a file split into several
    read tasks spans partitions)."""
    total: dict[str, int] = {}
    for part in parts:
        for source, n in part["documents_per_source"].items():
            total[source] = total.get(source, 0) + n
    return total


def pack_in_workers(
    patterns: list[str],
    output: Path,
    ledger: Ledger,
    *,
    tokenizer: str,
    shard_cfg: ShardWriterConfig,
    ingest_cfg: IngestConfig,
    workers: int,
    partition_bytes: int,
    encode_batch_size: int,
    write_documents: bool,
    encode: EncodeConfig | None = None,
) -> tuple[dict, dict]:
    """Raw files or documents/v1 Parquet → shards, every token in Ray workers; the driver only commits.

    Partitions (about ``partition_bytes`` of input each, in canonical order) are read, cleaned, quarantined,
    encoded, packed and written by :class:`PartWriter` actors; the driver gathers their small descriptors,
    commits the manifest in partition order, reconciles the counts and publishes ``OUT/quarantine`` (and
    ``OUT/documents`` when ``write_documents``, ``OUT/filtered`` when quality filters run). Returns the manifest
    and, for raw inputs, the reconciled totals (``records_in``, ``records_out``, ``quarantined``, ``filtered``).
    """
    t0 = time.perf_counter()
    check_output_owned(output)
    clean_stale_staging(output, ledger.run_id)
    files = resolve_inputs(expand_parquet_folders(patterns), ingest_cfg.format)  # a documents folder: its *.parquet
    fps = {f.uri: fingerprint(f.uri) for f in files}
    ledger.add_inputs([(f.uri, f.size, f.mtime, fps[f.uri]) for f in files])
    encode = encode or EncodeConfig()
    engine = load_engine(tokenizer, encode.engine)  # proves a fast engine on the parity set; the workers check again
    shard_cfg = resolve_eos_id(shard_cfg, engine)  # eos_id=auto: the tokenizer's EOS/SEP, the same id in every worker
    is_docs = all(f.format == "parquet" and schema_name(parquet_schema(f.uri)) == schema_name(DOCUMENTS) for f in files)
    tasks = plan_read_tasks(files, ingest_cfg.split_bytes)
    for t in tasks:
        t["fingerprint"] = fps[t["uri"]]
        if is_docs:
            t["format"] = DOCUMENTS_FORMAT
    settings = json.dumps(
        {"shards": dataclasses.asdict(shard_cfg), "ingest": dataclasses.asdict(ingest_cfg), "tokenizer": engine.sha256, "code": code_fingerprint(_CODE)},
        sort_keys=True,
        default=str,
    )
    items = [{"index": i, "name": part_name(i, group, settings), "tasks": json.dumps(group)} for i, group in enumerate(plan_partitions(tasks, partition_bytes))]
    staging = open_staging(output, ledger.run_id)
    qdir, receipts = staging / "quarantine", staging / "_receipts"
    # documents the quality filters drop (ingest.quality; the PII formatter only edits): OUT/filtered, reconciled
    fdir = staging / "filtered" if set(ingest_cfg.quality.filters) - {"pii"} and not is_docs else None
    shards_dir = output / "shards"
    shards_dir.mkdir(parents=True, exist_ok=True)
    log.info("%d files, %d partitions, %d workers", len(files), len(items), workers)
    writer_args = {
        "shards_dir": str(shards_dir),
        "tokenizer": tokenizer,
        "shard_cfg": shard_cfg,
        "ingest": ingest_cfg,
        "quarantine_dir": str(qdir),
        "receipts_dir": str(receipts),
        "run_id": ledger.run_id,
        "documents_dir": str(staging / "documents") if write_documents and not is_docs else None,
        "encode_batch_size": encode_batch_size,
        "encode": encode,
        "filtered_dir": str(fdir) if fdir else None,
    }
    parts = write_partitions(items, writer_args, workers)
    # Counts before commit: a run that lost records publishes nothing.
    packed = documents_per_source(parts)
    result = IngestResult(quarantine=qdir, documents=staging / "documents" if writer_args["documents_dir"] else None, filtered=fdir)
    if not is_docs:
        reconcile_run(
            result,
            load_receipts(receipts),
            {"documents": stage_names(ingest_stages("text", ingest_cfg, str(qdir), None, filtered_dir=str(fdir) if fdir else None))},
            {"documents": packed},
            files,
            ledger,
            time.perf_counter() - t0,
        )
    manifest = commit_parts(
        shards_dir,
        parts,
        shard_cfg,
        engine,
        ledger,
        expected_docs=sum(packed.values()),
        source={"inputs": sorted(fps), "partitions": len(parts), "encoder": record_encoder(ledger, "pack_shards", engine, parts)},
        seconds=time.perf_counter() - t0,
    )
    publish(staging, output, result, ledger.run_id)
    return manifest, result.totals


def record_encoder(ledger: Ledger, stage: str, engine, parts: list[dict]) -> dict:
    """Record which engine encoded ``stage`` (ledger table ``encoders``) from the driver's parity check and the
    workers' descriptors; returns the same facts for the manifest. An engine that fell back on some partitions is
    named ``fastokens+hf`` (the bytes are the reference's either way)."""
    choice = engine.choice
    engines = sorted({p["encoder"]["engine"] for p in parts if "encoder" in p}) or [choice["engine"]]
    fallbacks = [p["encoder"]["fallback"] for p in parts if p.get("encoder", {}).get("fallback")]
    record = {
        **choice,
        "engine": "+".join(engines),
        "checked_docs": sum(p.get("encoder", {}).get("checked_docs", 0) for p in parts),
        "fallbacks": len(fallbacks),
        "reason": fallbacks[0] if fallbacks else choice["reason"],
    }
    ledger.add_encoder(stage, record)
    return record


def commit_parts(
    shards_dir: Path,
    parts: list[dict],
    shard_cfg: ShardWriterConfig,
    engine,
    ledger: Ledger,
    *,
    expected_docs: int,
    seconds: float,
    source: dict | None = None,
) -> dict:
    """Commit the shard parts the workers wrote (in partition order) after checking that the packers took the
    ``expected_docs`` documents handed to them; the ledger gets stage ``pack_shards``, the counted reasons of
    documents not kept whole, and the artifact. Returns the manifest."""
    pack_in = sum(p["pack_stats"]["docs_in"] for p in parts)
    if pack_in != expected_docs:
        raise CountMismatch(f"the packers took {pack_in} documents but {expected_docs} were handed to them")
    manifest = commit_shards(
        shards_dir,
        parts,
        config=shard_cfg,
        vocab_size=engine.vocab_size,
        tokenizer_hash=engine.sha256,
        run_id=ledger.run_id,
        source=source or {"partitions": len(parts)},
    )
    totals, stats = manifest["totals"], manifest.get("pack_stats", {})
    # Documents the packer does not keep whole are counted reasons, never silent (long_docs=drop / truncate).
    ledger.add_quarantine_reasons(
        [
            ("pack_shards", reason, int(stats.get(key, 0)))
            for key, reason in (("docs_dropped_long", "dropped_long"), ("docs_truncated", "truncated_long"))
            if stats.get(key)
        ]
    )
    ledger.add_stage(
        "pack_shards",
        rows_in=pack_in,
        rows_out=totals["rows"],
        rows_quarantined=int(stats.get("docs_dropped_long", 0)),
        bytes=set_bytes(manifest),
        tokens=totals["tokens"],
        seconds=seconds,
    )
    ledger.add_artifact(shards_dir, "shards")
    return manifest
