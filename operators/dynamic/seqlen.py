"""The merges -> mean sequence length curve (the paper's ``merges2seqLen``), to choose ``max_merges``.

Every batch is merged as far as the budget allows; after ``k`` merges a batch is ``base - sum(removed[:k])``
tokens long, and a batch that ran out of valid pairs earlier keeps its final length. The curve is the mean row
length over all batches for every ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenmill.operators.dynamic.base_tokenizer import BaseTokenizer
from tokenmill.operators.dynamic.dynamic_bpe import Boundary, DynamicBPE


@dataclass(frozen=True, slots=True)
class MergeCurve:
    """Mean sequence length per number of merges per batch."""

    mean_length: np.ndarray
    """float64 [K + 1]: mean row length after 0..K merges per batch (index 0 = the base tokenizer)."""
    rows: int
    """Rows the curve was measured on."""
    batch_size: int

    @property
    def base_mean_length(self) -> float:
        return float(self.mean_length[0])

    def length_at(self, merges: int | None) -> float:
        """Mean length with ``merges`` merges per batch (None: unlimited)."""
        k = len(self.mean_length) - 1 if merges is None else min(merges, len(self.mean_length) - 1)
        return float(self.mean_length[k])

    def reduction_at(self, merges: int | None) -> float:
        """Fraction of tokens saved vs the base tokenizer (0.25 = 25 % shorter)."""
        base = self.base_mean_length
        return 0.0 if base == 0 else 1.0 - self.length_at(merges) / base

    def merges_for_reduction(self, target: float) -> int | None:
        """Fewest merges per batch reaching ``target`` reduction (e.g. 0.2), or None when unreachable."""
        if self.base_mean_length == 0:
            return None
        reached = np.flatnonzero(1.0 - self.mean_length / self.base_mean_length >= target - 1e-12)
        return int(reached[0]) if len(reached) else None


def merges_to_seqlen(
    base_tokenizer: BaseTokenizer | str | Path,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    boundary: Boundary = "word",
    max_merges: int | None = None,
    min_count: int = 1,
) -> MergeCurve:
    """Measure the merges -> mean sequence length curve on ``texts`` cut into consecutive batches.

    Args:
        base_tokenizer: the base tokenizer (or its path).
        texts: the rows, in the order the pipeline would batch them.
        batch_size: rows per batch (the pipeline's ``batch_size``).
        boundary, min_count: as for :class:`DynamicBPE`.
        max_merges: longest curve to measure (None: until every batch runs out of valid pairs).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    op = DynamicBPE(base_tokenizer, max_merges=max_merges, boundary=boundary, min_count=min_count)
    traces = []
    for lo in range(0, len(texts), batch_size):
        chunk = list(texts[lo : lo + batch_size])
        enc = op.tokenizer.encode_batch(chunk, offsets=op.needs_offsets, pretokens=op.boundary == "pretokens")
        result = op.merge(enc, chunk)
        traces.append(len(enc.ids) - np.concatenate([[0], np.cumsum(result.removed)]))
    longest = max((len(t) for t in traces), default=1)
    total = np.zeros(longest, np.float64)
    for t in traces:
        total[: len(t)] += t
        total[len(t) :] += t[-1]
    return MergeCurve(total / max(len(texts), 1), len(texts), batch_size)
