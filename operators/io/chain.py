"""The one list of per-batch stages after reading, used by every pipeline and the worker-side shard writer.

``ingest_stages`` returns the stages in order, each wrapped in :class:`operators.core.stages.CountedStage` so that
its rows in and out are counted under its ledger stage name (the operator's ``STAGE``). Ingest maps them over a
Ray dataset; :class:`operators.shards.part_writer.PartWriter` applies them to each block in a worker. Adding an
operator to every job is one line here (or one entry in a pipeline's ``extra_ops``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pyarrow as pa

from operators.clean.text_normalize import TextNormalizer
from operators.core.ingest_config import IngestConfig
from operators.core.stages import CountedStage
from operators.io.quarantine_sink import QuarantineSink
from schemas import DNA_SEGMENTS, DOCUMENTS

SINK_STAGE = "quarantine"


def ingest_stages(kind: str, cfg: IngestConfig, quarantine_dir: str, receipts_dir: str | None,
                  extra_ops: Sequence[Callable[[pa.Table], pa.Table]] | None = (), *,
                  scripts: bool = True) -> list[CountedStage]:
    """The stages after the reader for ``kind`` (``text`` or ``dna``), ending with the quarantine sink.

    Args:
        kind: ``text`` (RAW_DOCUMENTS → DOCUMENTS) or ``dna`` (DNA_SEGMENTS_RAW → DNA_SEGMENTS).
        cfg: the ingest config.
        quarantine_dir: where the sink writes rejected rows.
        receipts_dir: where stages write their count receipts (None: no counting).
        extra_ops: operators to run after normalization (each with a ``STAGE`` name); they mark bad rows with
            the reject columns, never drop them.
        scripts: detect each document's dominant script (False when nothing downstream reads it).
    """
    extra_ops = list(extra_ops or ())
    ops: list[Any] = [TextNormalizer(cfg, scripts=scripts), *extra_ops] if kind == "text" else extra_ops
    sink = QuarantineSink(quarantine_dir, DOCUMENTS if kind == "text" else DNA_SEGMENTS)
    return [*(CountedStage(op, op.STAGE, receipts_dir) for op in ops), CountedStage(sink, SINK_STAGE, receipts_dir)]


def stage_names(stages: Sequence[CountedStage]) -> list[str]:
    """The ledger names of a chain, the read stage first (what :func:`operators.ledger.reconcile.reconcile` takes)."""
    return ["read", *(s.stage for s in stages)]
