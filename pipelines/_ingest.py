"""The ingestion stage shared by the pipelines: read → normalize/segment → quarantine → Parquet, then counts.

Pipelines call :func:`ingest`; it cuts the inputs into partitions that Ray workers read and run through the operator
chain (:func:`operators.io.chain.run_chain`), each writing one Parquet part of ``documents/`` or ``dna_segments/``
(plus ``quarantine/``) under a staging directory; it then reconciles the counts (what readers saw = out + quarantined, per
source and stage, from independent counts: :mod:`operators.ledger.reconcile`) and only then replaces the
previous outputs. Output folders carry a ``.tokenmill`` marker; a folder of the same name without one was not
written by tokenmill and is never replaced (the run refuses to start): :mod:`operators.core.outputs`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tokenmill.operators.clean import exact_dedup
from tokenmill.operators.core.atomic import atomic_path
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.outputs import check_output_owned, clean_stale_staging, open_staging, publish
from tokenmill.operators.core.runtime import cluster_cpus, run_partitions
from tokenmill.operators.core.stages import load_receipts, receipt_bundle
from tokenmill.operators.io import (
    IngestConfig,
    ReadTask,
    expand_parquet_folders,
    fingerprint,
    parquet_files,
    parquet_schema,
    partition_size,
    plan_read_tasks,
    resolve_inputs,
    text_bytes,
)
from tokenmill.operators.io.chain import ingest_stages, run_chain, stage_names
from tokenmill.operators.io.sources import plan_partitions
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch, mismatch_message, reconcile, text_edit_rows
from tokenmill.schemas import DNA_SEGMENTS, DOCUMENTS, schema_name

log = logging.getLogger("tokenmill.ingest")


@dataclass
class IngestResult:
    """Where ingestion wrote its outputs, with the per-source counts."""

    documents: Path | None = None
    dna_segments: Path | None = None
    quarantine: Path | None = None
    filtered: Path | None = None
    """Documents quality filters dropped (only when ``ingest.quality`` runs a filter)."""
    per_source: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)


def ingest(patterns: list[str], cfg: IngestConfig, output: Path, ledger: Ledger, stage_prefix: str = "", extra_ops: list | None = None) -> IngestResult:
    """Ingest ``patterns`` into ``output`` (documents/, dna_segments/, quarantine/) and record it in ``ledger``.

    ``stage_prefix`` names this ingestion's ledger stages apart from another's in the same run (e.g. ``eval_``).
    ``extra_ops`` are per-batch operators to run on text after normalization (see
    :func:`operators.io.chain.ingest_stages`); each names its ledger stage in a ``STAGE`` attribute.

    Raises:
        ConfigError: an output folder exists that tokenmill did not write.
        CountMismatch: records were lost between reading and writing (nothing is published).
    """
    t0 = time.perf_counter()
    run_id = ledger.run_id
    assert run_id is not None, "ingest records into a started run (Ledger.start_run)"
    check_output_owned(output)
    clean_stale_staging(output, run_id)
    files = resolve_inputs(patterns, cfg.format)
    ledger.add_inputs([(f.uri, f.size, f.mtime, fingerprint(f.uri)) for f in files])
    staging = open_staging(output, run_id)
    qdir, receipts = staging / "quarantine", str(staging / "_receipts")
    fdir = staging / "filtered" if set(cfg.quality.filters) - {"pii"} else None  # the PII formatter drops nothing
    text_tasks = plan_read_tasks([f for f in files if f.format != "fasta"], cfg.split_bytes)
    dna_tasks = plan_read_tasks([f for f in files if f.format == "fasta"], cfg.split_bytes)
    branches = []  # output names, text first
    chains, stages = {}, {}
    items: list[dict] = []  # text and DNA partitions in one list: the workers take them in any mix
    total = sum(text_bytes(t) for t in text_tasks + dna_tasks)
    partition_bytes = partition_size(total, PARTITION_BYTES)  # from the inputs alone, never the cluster
    for name, kind, tasks in (("documents", "text", text_tasks), ("dna_segments", "dna", dna_tasks)):
        if not tasks:
            continue
        stages[name] = ingest_stages(kind, cfg, str(qdir), receipts, extra_ops if kind == "text" else (), filtered_dir=str(fdir) if fdir else None)
        branches.append(name)
        chains[name] = stage_names(stages[name])
        (staging / name).mkdir(parents=True, exist_ok=True)  # an input that yields no rows still gets its folder
        for group in plan_partitions(tasks, partition_bytes):
            items.append({"index": len(items), "output": name, "tasks": json.dumps(group)})
    log.info("%d files, %d partitions", len(files), len(items))
    run_partitions(IngestPartition, items, {"cfg": cfg, "staging": str(staging), "stages": stages, "receipts": receipts}, cluster_cpus(), progress="ingest")
    read_seconds = time.perf_counter() - t0
    dedup_counts = {}
    if cfg.dedup:
        for name in branches:
            t1 = time.perf_counter()
            raw = staging / f"{name}.predup"
            (staging / name).rename(raw)
            version = schema_name(DOCUMENTS if name == "documents" else DNA_SEGMENTS)
            assert version is not None  # both schemas carry their tokenmill.schema version
            counts = exact_dedup(raw, staging / name, qdir, "text" if name == "documents" else "seq", version, stage=f"dedup_{name}")
            shutil.rmtree(raw)
            dedup_counts[name] = (counts, time.perf_counter() - t1)
    outs = {name: staging / name for name in branches}
    result = IngestResult(
        documents=outs.get("documents"),
        dna_segments=outs.get("dna_segments"),
        quarantine=qdir,
        filtered=fdir if fdir and "documents" in chains else None,
    )
    written = {name: _file_counts(getattr(result, name)) for name in chains}
    reconcile_run(result, load_receipts(receipts), chains, written, files, ledger, read_seconds, stage_prefix)
    for name, (counts, seconds) in dedup_counts.items():
        ledger.add_stage(
            f"{stage_prefix}dedup_{name}", rows_in=counts["rows_in"], rows_out=counts["rows_out"], rows_quarantined=counts["duplicates"], seconds=seconds
        )
    publish(staging, output, result, run_id)
    log.info(
        "ingest: %s seen, %s out, %s quarantined, %s filtered (%.1f s)",
        result.totals["records_in"],
        result.totals["records_out"],
        result.totals["quarantined"],
        result.totals["filtered"],
        time.perf_counter() - t0,
    )
    return result


def documents_input(patterns: list[str], cfg: IngestConfig, output: Path, ledger: Ledger) -> list[str]:
    """Parquet files of documents/v1 to read: ``patterns`` themselves when they are ingested documents (a folder
    counts as its *.parquet; ids are kept), else the output of ingesting them into ``output/documents``."""
    try:  # local or remote, a folder standing for its *.parquet
        found = resolve_inputs(expand_parquet_folders(patterns))
    except ConfigError:
        found = []  # ingest() below reports what is wrong with the patterns
    docs = found and all(f.format == "parquet" and schema_name(parquet_schema(f.uri)) == schema_name(DOCUMENTS) for f in found)
    files = [f.uri for f in found] if docs else []
    if files:
        return files
    result = ingest(patterns, cfg, output, ledger)
    if result.documents is None or not any(result.documents.glob("*.parquet")):
        raise ConfigError("no documents: the inputs hold no text records (see OUT/quarantine for rejected ones)")
    return [str(result.documents)]


PARTITION_BYTES = 64 << 20
"""The most input bytes a partition of ingest holds: each partition is one Parquet part of ``documents/`` or
``dna_segments/``, written by one worker (smaller inputs: about 16 partitions, see :func:`operators.io.partition_size`)."""


class IngestPartition:
    """A Ray worker's ingest of one partition at a time (see :func:`operators.core.runtime.run_partitions`): its read
    tasks, in order, through the reader and the chain, the kept rows into ``staging/<output>/part-<index>.parquet``
    (zstd, page CRCs, written under a temporary name and renamed when complete, so a retried partition rewrites the
    same file). Quarantined and filtered rows and the count receipts are written by the chain's stages."""

    def __init__(self, cfg: IngestConfig, staging: str, stages: dict[str, list], receipts: str) -> None:
        self.staging = Path(staging)
        self.stages = stages
        self.reader = ReadTask(cfg, receipts)
        self.receipts = receipts

    def __call__(self, batch: pa.Table) -> pa.Table:
        (item,) = batch.to_pylist()
        name, stages = item["output"], self.stages[item["output"]]
        schema = DOCUMENTS if name == "documents" else DNA_SEGMENTS
        rows = 0
        # the partition's receipts are one file, written after its part (opened with its first row: no rows, no file)
        with receipt_bundle(self.receipts, f"{name}-{item['index']:05d}"), contextlib.ExitStack() as stack:
            writer = None
            for block in run_chain(stages, self._blocks(json.loads(item["tasks"]))):
                if not block.num_rows:
                    continue
                if writer is None:
                    tmp = stack.enter_context(atomic_path(self.staging / name / f"part-{item['index']:05d}.parquet"))
                    # page CRCs: a reader that checks them (tokenmill's, pyarrow with page_checksum_verification)
                    # catches damage that still decodes
                    writer = stack.enter_context(pq.ParquetWriter(tmp, schema, compression="zstd", write_page_checksum=True))
                writer.write_table(block)
                rows += block.num_rows
        return pa.table({"index": [item["index"]], "part": [json.dumps({"index": item["index"], "rows": rows})]})

    def _blocks(self, tasks: list[dict]) -> Iterator[pa.Table]:
        for task in tasks:  # one at a time: a table of several infers its columns from the first (row_group, ...)
            yield from self.reader(pa.Table.from_pylist([task]))


def _file_counts(path: Path | None) -> dict[str, int]:
    files = parquet_files(path) if path is not None else []
    if not files:
        return {}
    con = duckdb.connect()
    rows = con.execute("SELECT source, count(*) FROM read_parquet(?) GROUP BY source", [files]).fetchall()
    con.close()
    return dict(rows)


def reconcile_run(
    result: IngestResult, receipts: dict, chains: dict, written: dict[str, dict[str, int]], files: list, ledger: Ledger, seconds: float, prefix: str = ""
) -> None:
    """Check what was written (rows per source, per output) and the quarantine files against the receipts.

    Raises CountMismatch naming source, stage and loss; on success fills ``result.per_source``/``totals`` and
    the ledger (``source_counts``, ``quarantine_reasons``, one ``stages`` row per stage and ``ingest``).
    """
    con = duckdb.connect()
    q_rows = []
    if result.quarantine is not None and (q_files := parquet_files(result.quarantine)):  # paths as parameters: see parquet_files
        q_rows = con.execute("SELECT source, stage, reason, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL", [q_files]).fetchall()
    f_rows = []  # documents quality filters dropped: (source, reason, count)
    if result.filtered is not None and (f_files := parquet_files(result.filtered)):
        f_rows = con.execute("SELECT source, reason, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL", [f_files]).fetchall()
    con.close()
    filtered: dict[str, int] = {}
    filter_reasons: dict[str, dict[str, int]] = {}
    for src, reason, n in f_rows:
        filtered[src] = filtered.get(src, 0) + n
        filter_reasons.setdefault(src, {})[reason] = n
    quarantined: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    by_stage_reason: dict[tuple[str, str], int] = {}
    for src, stage, reason, n in q_rows:
        quarantined[src] = quarantined.get(src, 0) + n
        reasons.setdefault(src, {})[reason] = reasons.get(src, {}).get(reason, 0) + n
        by_stage_reason[(stage, reason)] = by_stage_reason.get((stage, reason), 0) + n
    counts, problems = [], []
    for name, chain in chains.items():
        is_dna = name == "dna_segments"
        sources = [f.uri for f in files if (f.format == "fasta") == is_dna]
        c, p = reconcile(
            receipts,
            chain,
            written[name],
            {s: n for s, n in quarantined.items() if s in sources},
            sources,
            filtered={s: n for s, n in filtered.items() if s in sources},
        )
        counts += c
        problems += p
    ledger.add_source_counts(prefix + "ingest", [(c.source, c.seen, c.out, c.quarantined) for c in counts])
    if problems:
        for problem in problems:
            log.error("lost records: %s", problem)
        raise CountMismatch(mismatch_message(problems))
    size = {f.uri: f.size for f in files}
    result.per_source = [
        {
            "source": c.source,
            "in": c.seen,
            "out": c.out,
            "quarantined": c.quarantined,
            "bytes": size.get(c.source, 0),
            "reasons": reasons.get(c.source, {}),
            "filtered": c.filtered,
            "filter_reasons": filter_reasons.get(c.source, {}),
        }
        for c in counts
    ]
    total_in = sum(c.seen for c in counts)
    total_out = sum(c.out for c in counts)
    total_q = sum(c.quarantined for c in counts)
    total_f = sum(c.filtered for c in counts)
    result.totals = {"records_in": total_in, "records_out": total_out, "quarantined": total_q, "filtered": total_f}
    ledger.add_quarantine_reasons([(prefix + s, r, n) for (s, r), n in sorted(by_stage_reason.items())])
    ledger.add_filter_reasons([(prefix + reason.split(":", 1)[0], src, reason, n) for src, reason, n in f_rows])
    edits = [row for chain in chains.values() for row in text_edit_rows(receipts, chain[1:], prefix)]
    ledger.add_text_edits(edits)  # e.g. the PII formatter's replacements, per source
    result.totals["text_edits"] = {k: sum(n for _, _, kind, n in edits if kind == k) for k in sorted({e[2] for e in edits})}
    # One ledger row per stage in pipeline order: the live rows it took, and those it quarantined (the rows a
    # stage rejects flow on, marked, to the sink; DNA segmenting happens inside the read step). A quality filter's
    # rows_out leaves out the documents it filtered (filter_reasons has them by rule and source).
    live = total_in
    for stage in dict.fromkeys(s for chain in chains.values() for s in chain[:-1]):
        q = sum(n for (s, _), n in by_stage_reason.items() if s == stage or (stage == "read" and s == "segment"))
        f = sum(n for _, reason, n in f_rows if reason.split(":", 1)[0] == stage)
        ledger.add_stage(
            prefix + stage,
            rows_in=live,
            rows_out=live - q - f,
            rows_quarantined=q,
            bytes=sum(size.values()) if stage == "read" else 0,
            seconds=seconds if stage == "read" else 0.0,
        )
        live -= q + f
    ledger.add_stage(f"{prefix}ingest", rows_in=total_in, rows_out=total_out, rows_quarantined=total_q, seconds=seconds)
