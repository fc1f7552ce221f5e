"""The one list of per-batch operators after reading, and the one way they are wired, for every job.

Ingest's :class:`pipelines._ingest.IngestPartition`, pack_shards' :class:`operators.shards.part_writer.PartWriter`
and build_corpus' :class:`operators.corpus_build.partition.PartitionBuilder` run it over a reader's blocks inside a
Ray worker (:func:`run_chain`), one partition at a time. So the same operators, in the same order, with the same
ledger stage names and counts, run in all of them.

The operator contract (plain class attributes, no registration):

- ``STAGE``: its ledger stage name;
- ``NEEDS``: the columns it reads, ``ADDS``: the columns it adds (checked on the first batch: a missing column is
  an error naming the operator);
- ``Op(cfg)`` with the job's :class:`operators.core.ingest_config.IngestConfig`, then ``op(batch) -> batch``; a
  worker process builds the chain once per run and keeps it for every partition it gets, so an ``__init__`` that
  loads something costly (a model) pays for it once per worker;
- it marks bad rows with the reject columns and never drops a row (the quarantine sink at the end writes them).

Adding an operator to every job = its file, its export in its package's ``__init__``, and one entry below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from tokenmill.operators.clean.langid import LanguageIdentifier
from tokenmill.operators.clean.text_normalize import TextNormalizer
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.stages import CountedStage
from tokenmill.operators.io.quarantine_sink import QuarantineSink
from tokenmill.operators.quality import FILTER_COLUMNS, FilteredSink, quality_operators
from tokenmill.schemas import DNA_SEGMENTS, DOCUMENTS

TEXT_OPERATORS: tuple[type, ...] = (
    TextNormalizer,
    LanguageIdentifier,  # a pass-through unless ingest.lang_from=detect
)
"""Per-batch operators on documents, in order (RAW_DOCUMENTS → DOCUMENTS + reject columns)."""

DNA_OPERATORS: tuple[type, ...] = ()
"""Per-batch operators on DNA segments, in order (the reader already segments and validates)."""

SINK_STAGE = "quarantine"
FILTERED_STAGE = FilteredSink.STAGE


def ingest_stages(
    kind: str, cfg: IngestConfig, quarantine_dir: str, receipts_dir: str | None, extra_ops: Sequence[Any] | None = (), filtered_dir: str | None = None
) -> list[CountedStage]:
    """The stages after the reader for ``kind`` (``text`` or ``dna``), ending with the quarantine sink.

    With quality filters on (``ingest.quality``), text runs them after the list's operators, then the filtered sink
    (which writes the documents they dropped to ``filtered_dir`` and hands on the rest), then the quarantine sink.

    Args:
        kind: ``text`` (RAW_DOCUMENTS → DOCUMENTS) or ``dna`` (DNA_SEGMENTS_RAW → DNA_SEGMENTS).
        cfg: the ingest config.
        quarantine_dir: where the sink writes rejected rows.
        receipts_dir: where stages write their count receipts (None: count in memory only).
        extra_ops: operator instances run after the list's (tests use this to inject a faulty stage).
        filtered_dir: where the filtered sink writes dropped documents; a job that passes none does not reconcile
            filtered documents yet and refuses quality filters.
    """
    ops = [op(cfg) for op in (TEXT_OPERATORS if kind == "text" else DNA_OPERATORS)] + list(extra_ops or ())
    filters = quality_operators(cfg) if kind == "text" else []
    drops = any(FILTER_COLUMNS[0] in getattr(op, "ADDS", ()) for op in filters)  # the PII formatter only edits
    if drops and filtered_dir is None:
        raise ValueError(
            f"ingest.quality (preset {cfg.quality.preset!r}) runs in pipelines/ingest.py only so far: "
            "ingest with it first, then give this job the ingested OUT/documents"
        )
    sink = QuarantineSink(quarantine_dir, DOCUMENTS if kind == "text" else DNA_SEGMENTS)
    stages = [CountedStage(op, op.STAGE, receipts_dir) for op in ops + filters]
    if drops:
        assert filtered_dir is not None
        stages.append(CountedStage(FilteredSink(filtered_dir), FILTERED_STAGE, receipts_dir))
    return [*stages, CountedStage(sink, SINK_STAGE, receipts_dir)]


def run_chain(stages: Sequence[CountedStage], blocks: Iterable[pa.Table], edits: dict[str, dict[str, int]] | None = None) -> Iterator[pa.Table]:
    """Each of ``blocks`` through every stage in order, lazily: yields what the chain keeps of each block (the
    quarantine sink ends it), the one way a worker runs a chain.

    Args:
        stages: the chain (:func:`ingest_stages`).
        blocks: a reader's blocks.
        edits: when given, the edits stages make inside kept documents are summed into it after each stage
            (``{stage: {kind: n}}`` from the operators' ``receipt_counts()``: PII replacements, lines C4 removed).
    """
    for block in blocks:
        for stage in stages:
            block = stage(block)
            if edits is not None and hasattr(stage.op, "receipt_counts"):
                for kind, by_source in stage.op.receipt_counts().items():
                    counts = edits.setdefault(stage.stage, {})
                    counts[kind] = counts.get(kind, 0) + sum(by_source.values())
        yield block


def stage_names(stages: Sequence[CountedStage]) -> list[str]:
    """The ledger names of a chain, the read stage first (what :func:`operators.ledger.reconcile.reconcile` takes)."""
    return ["read", *(s.stage for s in stages)]
