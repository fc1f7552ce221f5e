"""How quality filters mark a document they drop, and the one loop every filter operator runs over a batch.

A filter never removes a row: it sets the filter columns (``_filter_reason`` = ``<filter>:<rule>``, the measured
``_filter_value`` and the rule's ``_filter_threshold``) on the documents it rejects, and later filters skip marked
rows (and rows an earlier stage quarantined). :class:`operators.quality.filter_sink.FilteredSink` writes the marked
rows to OUT/filtered and hands the rest on, so every dropped document is counted by its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.quality.words import shared_splitter

if TYPE_CHECKING:
    from tokenmill.operators.core.ingest_config import IngestConfig

FILTER_COLUMNS = ("_filter_reason", "_filter_value", "_filter_threshold")
"""Columns that mark a filtered row until the filtered sink splits it off."""

_TYPES = {"_filter_reason": pa.string(), "_filter_value": pa.float64(), "_filter_threshold": pa.float64()}


@dataclass(frozen=True, slots=True)
class Drop:
    """Why a filter drops a document: its rule, the measured value and the threshold it crossed (None: a yes/no rule)."""

    rule: str
    value: float | None = None
    threshold: float | None = None


Check = Callable[[str], "Drop | str | None"]
"""A filter's per-document check: a :class:`Drop`, None (keep as is) or a str (keep, with this new text: C4)."""


C = TypeVar("C")


class CheckFilter(Generic[C]):
    """A filter operator whose per-document check needs only its config section and the shared word splitter.

    A subclass sets ``STAGE`` (the filter's name in ``<filter>:<rule>``, which is also its section of
    ``ingest.quality``) and ``check``; counts are per operator, as :func:`apply_check` keeps them.
    """

    STAGE: ClassVar[str]
    NEEDS = ("text", "_reject_reason")
    ADDS = FILTER_COLUMNS

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg: C = getattr(cfg.quality, self.STAGE)
        self.splitter = shared_splitter()
        self.counts: dict[str, int] = {}

    def check(self, text: str) -> Drop | None:
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> pa.Table:
        return apply_check(batch, self.STAGE, self.check, self.counts)


def with_filter_columns(batch: pa.Table) -> pa.Table:
    """``batch`` with the (null) filter columns added where missing."""
    for name in FILTER_COLUMNS:
        if name not in batch.column_names:
            batch = batch.append_column(pa.field(name, _TYPES[name]), pa.nulls(batch.num_rows, _TYPES[name]))
    return batch


def apply_check(batch: pa.Table, filter_name: str, check: Check, counts: dict[str, int], at_row: Callable[[int], None] | None = None) -> pa.Table:
    """Run ``check`` on every live document of ``batch`` (not quarantined, not filtered yet) and mark the drops.

    ``counts`` (the operator's own counters) gets ``kept`` and one entry per ``<filter>:<rule>``. ``at_row``, when
    given, is told the row index before each check (C4 counts its removed lines per source with it).
    """
    batch = with_filter_columns(batch)
    if batch.num_rows == 0:
        return batch
    live = pc.and_(pc.is_null(batch["_reject_reason"]), pc.is_null(batch["_filter_reason"])).to_pylist()
    if not any(live):
        return batch
    texts = batch["text"].to_pylist()
    reasons = batch["_filter_reason"].to_pylist()
    values = batch["_filter_value"].to_pylist()
    thresholds = batch["_filter_threshold"].to_pylist()
    new_texts: dict[int, str] = {}
    for i, text in enumerate(texts):
        if not live[i]:
            continue
        if at_row is not None:
            at_row(i)
        result = check(text)
        if isinstance(result, Drop):
            reason = f"{filter_name}:{result.rule}"
            reasons[i], values[i], thresholds[i] = reason, result.value, result.threshold
            counts[reason] = counts.get(reason, 0) + 1
            continue
        counts["kept"] = counts.get("kept", 0) + 1
        if isinstance(result, str) and result != text:
            new_texts[i] = result
    for name, column in (("_filter_reason", reasons), ("_filter_value", values), ("_filter_threshold", thresholds)):
        idx = batch.schema.get_field_index(name)
        batch = batch.set_column(idx, batch.schema.field(idx), pa.array(column, _TYPES[name]))
    if new_texts:
        batch = _replace_texts(batch, texts, new_texts)
    return batch


def _replace_texts(batch: pa.Table, texts: list[str], new_texts: dict[int, str]) -> pa.Table:
    """``batch`` with the texts of some rows replaced (and their ``n_bytes`` recomputed, when the batch has it)."""
    for i, text in new_texts.items():
        texts[i] = text
    idx = batch.schema.get_field_index("text")
    batch = batch.set_column(idx, batch.schema.field(idx), pa.array(texts, batch.schema.field(idx).type))
    if "n_bytes" in batch.column_names:
        n_bytes = batch["n_bytes"].to_pylist()
        for i, text in new_texts.items():
            n_bytes[i] = len(text.encode("utf-8"))
        idx = batch.schema.get_field_index("n_bytes")
        batch = batch.set_column(idx, batch.schema.field(idx), pa.array(n_bytes, batch.schema.field(idx).type))
    return batch
