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
from typing import Any

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.outputs import check_output_owned, clean_stale_staging, open_staging, publish
from tokenmill.operators.core.runtime import run_partitions
from tokenmill.operators.core.stages import load_receipts
from tokenmill.operators.corpus_build.partition import code_fingerprint
from tokenmill.operators.encode import EncodeConfig, load_engine, resolve_eos_id
from tokenmill.operators.io import (
    expand_parquet_folders,
    fingerprint,
    parquet_schema,
    partition_size,
    plan_partitions,
    plan_read_tasks,
    resolve_inputs,
    text_bytes,
)
from tokenmill.operators.io.chain import ingest_stages, stage_names
from tokenmill.operators.io.remote import join, remote_fs
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch
from tokenmill.operators.shards import ShardWriterConfig, commit_shards, set_bytes
from tokenmill.operators.shards.part_writer import DOCUMENTS_FORMAT, PartWriter, PartWriterConfig, part_name
from tokenmill.pipelines._ingest import IngestResult, reconcile_run
from tokenmill.schemas import DOCUMENTS, schema_name

log = logging.getLogger("tokenmill.shards")
# Code whose changes can change shard bytes: part of every shard name, so new code never overwrites old files.
_CODE = ("operators/io", "operators/clean", "operators/encode", "operators/core", "operators/pack", "operators/shards", "schemas")


def write_partitions(items: list[dict], cfg: PartWriterConfig, workers: int) -> list[dict]:
    """Run :class:`PartWriter` (built with ``cfg`` once per worker process) over the partitions ``items`` (``index``,
    ``name``, ``tasks`` JSON: raw files, documents or DNA segments), one Ray task each, up to ``workers`` at once, each
    tokenizer on its share of the CPUs; return their descriptors in partition order (see
    :func:`operators.core.runtime.run_partitions`). pack-shards and dna-bpe's encode stage both write this way."""
    return run_partitions(PartWriter, items, {"cfg": cfg}, workers, cpu_share_arg="encode_threads", progress="encode and pack")


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
    remote: str | None = None,
) -> tuple[dict, dict]:
    """Raw files or documents/v1 Parquet → shards, every token in Ray workers; the driver only commits.

    Partitions (about ``partition_bytes`` of input each, in canonical order) are read, cleaned, quarantined,
    encoded, packed and written by :class:`PartWriter` actors; the driver gathers their small descriptors,
    commits the manifest in partition order, reconciles the counts and publishes ``OUT/quarantine`` (and
    ``OUT/documents`` when ``write_documents``, ``OUT/filtered`` when quality filters run). Returns the manifest
    and, for raw inputs, the reconciled totals (``records_in``, ``records_out``, ``quarantined``, ``filtered``).

    ``remote``: the object-store output that ``output`` stages. The workers then write in private folders of their
    own and upload as they go (see :class:`PartWriter`): shard files straight to ``remote``, the rest under the
    run's remote staging prefix, which is fetched into ``output`` here (quarantine, receipts, documents: never the
    shards) and removed at the end. Every file the manifest lists is checked to be in the store, at its size, before
    the manifest is written; no node needs a disk another can see.
    """
    t0 = time.perf_counter()
    check_output_owned(output)
    run_id = _run_id(ledger)
    clean_stale_staging(output, run_id)
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
    size = partition_size(sum(text_bytes(t) for t in tasks), partition_bytes)  # small inputs: about 16 partitions
    items = [{"index": i, "name": part_name(i, group, settings), "tasks": json.dumps(group)} for i, group in enumerate(plan_partitions(tasks, size))]
    staging = open_staging(output, run_id)
    qdir, receipts = staging / "quarantine", staging / "_receipts"
    # documents the quality filters drop (ingest.quality; the PII formatter only edits): OUT/filtered, reconciled
    fdir = staging / "filtered" if set(ingest_cfg.quality.filters) - {"pii"} and not is_docs else None
    shards_dir = output / "shards"
    shards_dir.mkdir(parents=True, exist_ok=True)
    log.info("%d files, %d partitions, %d workers", len(files), len(items), workers)
    writer_cfg = PartWriterConfig(
        shards_dir=str(shards_dir),
        tokenizer=tokenizer,
        shard_cfg=shard_cfg,
        ingest=ingest_cfg,
        quarantine_dir=str(qdir),
        receipts_dir=str(receipts),
        run_id=run_id,
        documents_dir=str(staging / "documents") if write_documents and not is_docs else None,
        encode_batch_size=encode_batch_size,
        encode=encode,
        filtered_dir=str(fdir) if fdir else None,
        upload_to=remote,
        local_root=str(output) if remote is not None else None,
    )
    try:
        parts = write_partitions(items, writer_cfg, workers)
        if remote is not None:  # the workers uploaded what they wrote: the small files back, the shards checked
            fetched = fetch_staged(remote, output, staging)
            check_uploaded(remote, shards_dir, parts)
            log.info(
                "workers on %d node(s) uploaded %d files to %s (%d fetched back: quarantine, receipts, documents)",
                len({p["uploaded"]["node"] for p in parts}),
                sum(p["uploaded"]["files"] for p in parts),
                remote,
                fetched,
            )
        # Counts before commit: a run that lost records publishes nothing.
        packed = documents_per_source(parts)
        result = IngestResult(quarantine=qdir, documents=staging / "documents" if writer_cfg.documents_dir else None, filtered=fdir)
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
        # duplicates: the same commit_parts call as pipelines/_dna.py's: the shared logic is commit_parts itself;
        # only the argument names match.
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
        if remote is not None:  # the parts are in the store only: their writers' checksums
            listed = [(f["path"], f["sha256"], int(f["bytes"])) for s in manifest["shards"] for f in s["files"].values()]
            ledger.add_remote_artifacts(shards_dir, "shards", listed)
        publish(staging, output, result, run_id)
        return manifest, result.totals
    finally:
        if remote is not None:
            remove_remote_staging(remote, output, staging)


def _staged_prefix(remote: str, output: Path, staging: Path) -> tuple[Any, str]:
    """The store and the remote path of the run's staging folder (``staging`` is ``output/.staging-<run>``)."""
    fs, root = remote_fs(remote)
    return fs, join(root, staging.relative_to(output).as_posix())


def fetch_staged(remote: str, output: Path, staging: Path) -> int:
    """Download what the workers uploaded under the run's remote staging prefix (quarantine, receipts, documents,
    filtered) into ``staging``; returns how many files."""
    fs, prefix = _staged_prefix(remote, output, staging)
    names = fs.find(prefix)
    for name in names:
        target = staging / name[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(name, str(target))
    return len(names)


def check_uploaded(remote: str, shards_dir: Path, parts: list[dict]) -> None:
    """Every shard file the workers' descriptors list is in the store at its size, or CountMismatch (nothing is
    committed then)."""
    fs, root = remote_fs(remote)
    folder = join(root, shards_dir.name)
    found = {name[len(folder) + 1 :]: int(info["size"]) for name, info in fs.find(folder, detail=True).items()}
    wanted = {f["path"]: int(f["bytes"]) for p in parts for shard in p["shards"] for f in shard["files"].values()}
    wrong = sorted(path for path, size in wanted.items() if found.get(path) != size)
    if wrong:
        raise CountMismatch(f"{len(wrong)} of {len(wanted)} shard files are missing from {remote} or have another size (first: {wrong[0]})")


def remove_remote_staging(remote: str, output: Path, staging: Path) -> None:
    """Remove the run's remote staging prefix (after a commit, or a failure: the data it held is in no output)."""
    fs, prefix = _staged_prefix(remote, output, staging)
    if fs.find(prefix):
        fs.rm(prefix, recursive=True)


def _run_id(ledger: Ledger) -> str:
    if ledger.run_id is None:
        raise ValueError("the ledger has no run: start one (Ledger.start_run) before packing")
    return ledger.run_id


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
        run_id=_run_id(ledger),
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
