"""The ingestion stage shared by the pipelines: read → normalize/segment → quarantine → Parquet, then counts.

Pipelines call :func:`ingest`; it composes the Ray Data stages, writes ``documents/`` and/or ``dna_segments/``
plus ``quarantine/`` under a staging directory that replaces the previous outputs only when everything is
written, and fills the ledger with per-stage and per-reason counts that reconcile: records in = out + quarantined.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import ray

from operators.clean import TextNormalizer, exact_dedup
from operators.io import IngestConfig, QuarantineSink, ReadTask, fingerprint, plan_read_tasks, resolve_inputs
from operators.core.config import ConfigError
from operators.core.runtime import cluster_cpus
from operators.ledger import Ledger
from schemas import DNA_SEGMENTS, DOCUMENTS, schema_name

log = logging.getLogger("tokenmill.ingest")


@dataclass
class IngestResult:
    """Where ingestion wrote its outputs, with the per-source counts."""

    documents: Path | None = None
    dna_segments: Path | None = None
    quarantine: Path | None = None
    per_source: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)


def ingest(patterns: list[str], cfg: IngestConfig, output: Path, ledger: Ledger, stage_prefix: str = "") -> IngestResult:
    """Ingest ``patterns`` into ``output`` (documents/, dna_segments/, quarantine/) and record it in ``ledger``.

    ``stage_prefix`` names this ingestion's ledger stages apart from another's in the same run (e.g. ``eval_``).
    """
    t0 = time.perf_counter()
    files = resolve_inputs(patterns, cfg.format)
    ledger.add_inputs([(f.uri, f.size, f.mtime, fingerprint(f.uri)) for f in files])
    staging = output / f".staging-{ledger.run_id}"
    qdir = staging / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    text_tasks = plan_read_tasks([f for f in files if f.format != "fasta"], cfg.split_bytes)
    dna_tasks = plan_read_tasks([f for f in files if f.format == "fasta"], cfg.split_bytes)
    branches = []  # (output name, dedup column, dataset): text and DNA run concurrently
    if text_tasks:
        ds = _read(text_tasks, cfg)
        ds = ds.map_batches(TextNormalizer(cfg), batch_size=None, batch_format="pyarrow")
        ds = ds.map_batches(QuarantineSink(str(qdir), DOCUMENTS), batch_size=None, batch_format="pyarrow")
        branches.append(("documents", "text", ds))
    if dna_tasks:
        ds = _read(dna_tasks, cfg)
        ds = ds.map_batches(QuarantineSink(str(qdir), DNA_SEGMENTS), batch_size=None, batch_format="pyarrow")
        branches.append(("dna_segments", "seq", ds))
    with ThreadPoolExecutor(max_workers=max(len(branches), 1)) as pool:
        list(pool.map(lambda b: _write(b[2], staging / b[0]), branches))
    written = [(name, column) for name, column, _ in branches]
    read_seconds = time.perf_counter() - t0
    if cfg.dedup:
        for name, column in written:
            t1 = time.perf_counter()
            raw = staging / f"{name}.predup"
            (staging / name).rename(raw)
            schema = DOCUMENTS if name == "documents" else DNA_SEGMENTS
            counts = exact_dedup(raw, staging / name, qdir, column, schema_name(schema), stage=f"dedup_{name}")
            shutil.rmtree(raw)
            ledger.add_stage(f"{stage_prefix}dedup_{name}", rows_in=counts["rows_in"], rows_out=counts["rows_out"],
                             rows_quarantined=counts["duplicates"], seconds=time.perf_counter() - t1)
    result = _publish(staging, output, [name for name, _ in written])
    _record_counts(result, ledger, read_seconds, stage_prefix)
    log.info("ingest: %s in, %s out, %s quarantined (%.1f s)", result.totals["records_in"],
             result.totals["records_out"], result.totals["quarantined"], time.perf_counter() - t0)
    return result


def documents_input(patterns: list[str], cfg: IngestConfig, output: Path, ledger: Ledger) -> list[str]:
    """Parquet files of documents/v1 to read: ``patterns`` themselves when they are ingested documents (a folder
    counts as its *.parquet; ids are kept), else the output of ingesting them into ``output/documents``."""
    files: list[str] = []
    for p in map(Path, patterns):
        found = sorted(p.glob("*.parquet")) if p.is_dir() else [p] if p.suffix == ".parquet" and p.is_file() else []
        if not found or any(schema_name(pq.read_schema(f)) != schema_name(DOCUMENTS) for f in found):
            files = []
            break
        files += map(str, found)
    if files:
        return files
    result = ingest(patterns, cfg, output, ledger)
    if result.documents is None or not any(result.documents.glob("*.parquet")):
        raise ConfigError("no documents: the inputs hold no text records (see OUT/quarantine for rejected ones)")
    return [str(result.documents)]


def _read(tasks: list[dict], cfg: IngestConfig) -> "ray.data.Dataset":
    """Read tasks → blocks. Tasks are dealt round-robin by size into a few blocks per CPU, so hundreds of small
    files do not become hundreds of Ray tasks, and big and small files mix evenly."""
    n_blocks = min(len(tasks), 4 * cluster_cpus(cap=None))
    by_size = sorted(tasks, key=lambda t: -(t["end"] - t["start"] if t["end"] >= 0 else t["size"]))
    dealt = [by_size[i::n_blocks] for i in range(n_blocks)]
    ds = ray.data.from_items([t for group in dealt for t in group], override_num_blocks=n_blocks)
    return ds.map_batches(ReadTask(cfg), batch_size=None, batch_format="pyarrow")


def _write(ds: "ray.data.Dataset", path: Path) -> None:
    ds.write_parquet(str(path), compression="zstd", min_rows_per_file=100_000)
    if not path.exists():  # an input that yields no rows still gets an (empty) dataset directory
        path.mkdir(parents=True)


def _publish(staging: Path, output: Path, names: list[str]) -> IngestResult:
    """Swap the staged outputs into place (old outputs of the same names are removed only now)."""
    result = IngestResult()
    for name in [*names, "quarantine"]:
        target = output / name
        if target.exists():
            shutil.rmtree(target)
        (staging / name).rename(target)
        setattr(result, name, target)
    shutil.rmtree(staging, ignore_errors=True)
    return result


def _record_counts(result: IngestResult, ledger: Ledger, seconds: float, prefix: str) -> None:
    con = duckdb.connect()
    out_rows: dict[str, list] = {}
    for path in (result.documents, result.dna_segments):
        if path is not None and any(path.glob("*.parquet")):
            size_col = "n_bytes" if path == result.documents else "length(seq)"
            for src, n, nbytes in con.execute(
                f"SELECT source, count(*), sum({size_col}) FROM read_parquet('{path}/*.parquet') GROUP BY source"
            ).fetchall():
                out_rows[src] = [n, int(nbytes or 0)]
    q_rows = []
    if any(result.quarantine.glob("*.parquet")):
        q_rows = con.execute(
            f"SELECT source, stage, reason, count(*) FROM read_parquet('{result.quarantine}/*.parquet') "
            "GROUP BY ALL ORDER BY ALL").fetchall()
    con.close()
    per_source: dict[str, dict] = {}
    for src, (n, nbytes) in out_rows.items():
        per_source[src] = {"source": src, "out": n, "bytes": nbytes, "quarantined": 0, "reasons": {}}
    by_stage_reason: dict[tuple[str, str], int] = {}
    for src, stage, reason, n in q_rows:
        entry = per_source.setdefault(src, {"source": src, "out": 0, "bytes": 0, "quarantined": 0, "reasons": {}})
        entry["quarantined"] += n
        entry["reasons"][reason] = entry["reasons"].get(reason, 0) + n
        by_stage_reason[(stage, reason)] = by_stage_reason.get((stage, reason), 0) + n
    for entry in per_source.values():
        entry["in"] = entry["out"] + entry["quarantined"]
    result.per_source = sorted(per_source.values(), key=lambda e: e["source"])
    total_out = sum(e["out"] for e in result.per_source)
    total_q = sum(e["quarantined"] for e in result.per_source)
    result.totals = {"records_in": total_out + total_q, "records_out": total_out, "quarantined": total_q,
                     "bytes_out": sum(e["bytes"] for e in result.per_source)}
    ledger.add_quarantine_reasons([(prefix + s, r, n) for (s, r), n in sorted(by_stage_reason.items())])
    # Stages in pipeline order; each stage's input is the previous stage's output (dedup rows were added by ingest()).
    remaining = result.totals["records_in"]
    for stage in ("read", "segment", "normalize"):
        q = sum(n for (s, _), n in by_stage_reason.items() if s == stage)
        if stage == "read" or q:
            ledger.add_stage(prefix + stage, rows_in=remaining, rows_out=remaining - q, rows_quarantined=q,
                             seconds=seconds if stage == "read" else 0.0)
            remaining -= q
    ledger.add_stage(f"{prefix}ingest", rows_in=result.totals["records_in"], rows_out=total_out, rows_quarantined=total_q,
                     bytes=result.totals["bytes_out"], seconds=seconds)
