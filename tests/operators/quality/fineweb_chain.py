"""The FineWeb quality chain run two ways on the same texts: ours (the filter operators on one Arrow batch) and
datatrove 0.10.1's (the bench extra); the quality tests and benchmarks/quality.py both run them from here."""

from __future__ import annotations

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.quality import QualityConfig, quality_operators
from tokenmill.schemas import REJECT_COLUMNS

PEER_NAMES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
SOURCE = "s"
"""The source every document of :func:`run_ours` comes from (the key of C4's removed lines in ``edits``)."""


def batch_of(texts: list[str]) -> pa.Table:
    """A documents batch (with the reject columns) holding ``texts``, one source."""
    n = len(texts)
    cols = {
        "id": pa.array([str(i) for i in range(n)]),
        "source": pa.array([SOURCE] * n),
        "location": pa.array([str(i) for i in range(n)]),
        "text": pa.array(texts),
        "lang": pa.nulls(n, pa.string()),
        "script": pa.nulls(n, pa.string()),
        "n_bytes": pa.array([len(t.encode()) for t in texts], pa.int64()),
        "meta": pa.nulls(n, pa.string()),
    }
    for c in REJECT_COLUMNS:
        cols[c] = pa.nulls(n, pa.string())
    return pa.table(cols)


def run_ours(texts: list[str], edits: dict | None = None) -> tuple[list[str | None], list[str]]:
    """The filter operators alone on ``texts``: (reason per text, text after the chain); ``edits`` gets the
    operators' ``receipt_counts()`` (C4's removed lines)."""
    batch = batch_of(texts)
    for op in quality_operators(IngestConfig(quality=QualityConfig(preset="fineweb"))):
        batch = op(batch)
        if edits is not None and hasattr(op, "receipt_counts"):
            edits.update({kind: by_source[SOURCE] for kind, by_source in op.receipt_counts().items()})
    return batch["_filter_reason"].to_pylist(), batch["text"].to_pylist()


def peer_chain() -> list:
    """datatrove's chain, all with their defaults (ImportError without the bench extra)."""
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()]


def run_peer(filters: list, texts: list[str]) -> tuple[list[str | None], list[str]]:
    """(drop reason or None, final text) per document, as datatrove's chain decides (filter() is what run() calls)."""
    from datatrove.data import Document

    reasons: list[str | None] = []
    finals: list[str] = []
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        reason = None
        for name, f in zip(PEER_NAMES, filters):
            result = f.filter(doc)
            ok, why = result if isinstance(result, tuple) else (result, None)
            if not ok:
                reason = f"{name}:{why}"
                break
        reasons.append(reason)
        finals.append(doc.text)
    return reasons, finals
