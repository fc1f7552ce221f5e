"""Packing config, counters and the packed-row record shared by the reference and the fast packer.

The packing contract (both implementations follow it exactly, so their outputs are equal):

1. A document's stored tokens are ``[bos_id] + ids + [eos_id]`` (each special only when set). An empty result
   is dropped and counted (``docs_empty``).
2. Stored tokens longer than ``context_length`` follow ``long_docs``: ``split`` cuts them into consecutive pieces
   of ``context_length`` tokens (the last one shorter); ``truncate`` keeps the first ``context_length`` tokens;
   ``drop`` drops the document. All three are counted.
3. Pieces enter a buffer one at a time, in arrival order. When the buffer holds ``buffer_docs`` pieces (or on
   ``flush``) a *round* runs best-fit-decreasing: pieces sorted by length, longest first, ties in arrival order
   then start; each goes into the open row with the least remaining room that still fits it (ties: the row opened first).
   If none fits and ``split_to_fill`` is N > 0, the piece's head fills the roomiest open row (ties: the row opened
   first) when that row has at least N free slots, and the rest of the piece is placed the same way (counted in
   ``fill_splits``); otherwise the piece opens a new row.
4. After a round (not at ``flush``) the least-filled rows that are not full are carried back into the buffer, least
   filled first (ties: the row opened first), while the carried pieces stay within ``carry_fraction *
   buffer_docs``; carried pieces keep their arrival order (ties: by start). Their small pieces get another
   chance to fill gaps in the next round, which lifts utilization from ~99 % to ~99.9 % on short documents.
5. The other rows are emitted in the order they were opened; segments in a row in the order they were placed.

A row holds ``context_length`` slots: each segment has positions ``0..len-1`` (positions restart for every
document, so no token attends across a document boundary); the remaining slots are padding with ``pad_id``,
which forms one trailing segment of its own in ``cu_seqlens`` (so ``cu_seqlens[-1] == context_length``, as
flash-attention varlen kernels expect) with positions ``0..pad-1``. ``loss_mask`` is 1 where the token is a
training target under HF's padding-free convention (labels = input_ids with -100 at the first token of every
segment and on padding), 0 elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True, kw_only=True, slots=True)
class PackerConfig:
    """How tokenized documents are packed into fixed-length training rows."""

    context_length: int = 4096
    """Tokens per packed row (the training sequence length)."""
    buffer_docs: int = 8192
    """Pieces held before a best-fit-decreasing round; bounds memory and packing latency."""
    long_docs: Literal["split", "truncate", "drop"] = "split"
    """Documents longer than context_length: split into pieces, keep the first context_length tokens, or drop."""
    pad_id: int = 0
    """Token id written into unused slots (never a training target)."""
    bos_id: int | None = None
    """Token id prepended to every document, or None for none."""
    eos_id: int | Literal["auto"] | None = None
    """Token id appended to every document, or None for none. auto (the default of the jobs that encode): the
    tokenizer's end-of-document token (EOS, else SEP), resolved when the job starts and recorded in the manifest."""
    carry_fraction: float = 0.25
    """Fraction of buffer_docs that under-filled rows may carry into the next round (0 disables carrying)."""
    split_to_fill: int = 0
    """0: documents stay whole unless longer than context_length. N > 0: a piece that fits no open row may be cut
    to fill the roomiest row with at least N free slots (for near-uniform lengths such as DNA segments)."""

    def __post_init__(self) -> None:
        if not isinstance(self.context_length, int) or self.context_length < 2:
            raise ValueError(f"context_length must be an integer >= 2, got {self.context_length!r}")
        if not isinstance(self.buffer_docs, int) or self.buffer_docs < 1:
            raise ValueError(f"buffer_docs must be an integer >= 1, got {self.buffer_docs!r}")
        if self.long_docs not in ("split", "truncate", "drop"):
            raise ValueError(f"long_docs must be 'split', 'truncate' or 'drop', got {self.long_docs!r}")
        for name in ("pad_id", "bos_id", "eos_id"):
            value = getattr(self, name)
            if name == "eos_id" and value == "auto":
                continue
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative token id, got {value!r}")
        if not isinstance(self.split_to_fill, int) or self.split_to_fill < 0:
            raise ValueError(f"split_to_fill must be an integer >= 0, got {self.split_to_fill!r}")
        if not 0.0 <= self.carry_fraction < 1.0:
            raise ValueError(f"carry_fraction must be in [0, 1), got {self.carry_fraction!r}")

    @property
    def carry_budget(self) -> int:
        """Most pieces a round may carry into the next one."""
        return int(self.carry_fraction * self.buffer_docs)


@dataclass(kw_only=True, slots=True)
class PackStats:
    """Counters of one packing run (documents in, what happened to them, rows and slots out)."""

    docs_in: int = 0
    docs_kept: int = 0
    docs_empty: int = 0
    docs_split: int = 0
    docs_truncated: int = 0
    docs_dropped_long: int = 0
    tokens_in: int = 0
    tokens_truncated: int = 0
    tokens_dropped: int = 0
    pieces: int = 0
    fill_splits: int = 0
    rounds: int = 0
    rows: int = 0
    tokens: int = 0
    pad_tokens: int = 0

    def utilization(self, context_length: int) -> float:
        """Real tokens / slots of the emitted rows (1.0 when no row was emitted)."""
        slots = self.rows * context_length
        return self.tokens / slots if slots else 1.0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for the manifest and the ledger)."""
        return dataclasses.asdict(self)


@dataclass(slots=True)
class PackedRow:
    """One packed row (numpy arrays of length ``context_length`` unless noted)."""

    input_ids: np.ndarray
    """Token ids; padding slots hold ``pad_id``."""
    position_ids: np.ndarray
    """int32 positions, restarting at 0 for every segment (and for the trailing padding segment)."""
    cu_seqlens: np.ndarray
    """int32 segment boundaries with a leading 0; the padding (if any) is the last segment."""
    loss_mask: np.ndarray
    """uint8: 1 where the token is a training target (not padding, not the first token of a segment)."""
    doc_ids: list[str] = field(default_factory=list)
    """The document id of every real segment, in order (padding has none)."""
    doc_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64: where every real segment starts inside its document's stored tokens."""
    num_tokens: int = 0
    """Real (non-padding) tokens in the row."""
