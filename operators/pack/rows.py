"""Packed rows as arrays: build every row of a packing round at once (vectorized numpy).

Used by the packer (rows from its token arena) and by the shard reader (rows rebuilt from a Megatron ``.bin`` and
the sidecar pack plan), so both produce byte-identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tokenmill.operators.pack.config import PackedRow


@dataclass(slots=True)
class PackedBatch:
    """Rows of one packing round; segment arrays are grouped by row, in row order."""

    input_ids: np.ndarray
    """(rows, context_length) token ids, padding = pad_id."""
    position_ids: np.ndarray
    """(rows, context_length) int32 positions, restarting per segment and for the padding."""
    loss_mask: np.ndarray
    """(rows, context_length) uint8, 1 on training targets."""
    cu_values: np.ndarray
    """int32 cu_seqlens of all rows, concatenated (each with its leading 0 and, when padded, a final context_length)."""
    cu_offsets: np.ndarray
    """int64 (rows + 1) boundaries of every row's cu_seqlens inside cu_values."""
    seg_offsets: np.ndarray
    """int64 (rows + 1) boundaries of every row's real segments inside the seg_* arrays."""
    seg_len: np.ndarray
    """int64 length of every real segment."""
    num_tokens: np.ndarray
    """int64 real tokens per row."""
    seg_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 packer ordinal of every segment's document (set by the packer)."""
    seg_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 start of every segment inside its document's stored tokens."""
    doc_ids: list[str] = field(default_factory=list)
    """Document id of every segment (set by the packer)."""

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return len(self.input_ids)

    def rows(self) -> list[PackedRow]:
        """Split into :class:`PackedRow` records."""
        out = []
        for r in range(self.num_rows):
            a, b = int(self.seg_offsets[r]), int(self.seg_offsets[r + 1])
            out.append(
                PackedRow(
                    input_ids=self.input_ids[r],
                    position_ids=self.position_ids[r],
                    cu_seqlens=self.cu_values[self.cu_offsets[r] : self.cu_offsets[r + 1]],
                    loss_mask=self.loss_mask[r],
                    doc_ids=self.doc_ids[a:b],
                    doc_offsets=self.seg_start[a:b],
                    num_tokens=int(self.num_tokens[r]),
                )
            )
        return out


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every (s, l), vectorized."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    out = np.arange(total, dtype=np.int64)
    out -= np.repeat(ends - lengths, lengths)
    out += np.repeat(np.asarray(starts, np.int64), lengths)
    return out


def materialize_rows(
    *,
    tokens: np.ndarray,
    seg_src: np.ndarray,
    seg_len: np.ndarray,
    seg_row: np.ndarray,
    num_rows: int,
    context_length: int,
    pad_id: int,
) -> PackedBatch:
    """Build packed rows from segments ``tokens[seg_src : seg_src + seg_len]`` placed in rows ``seg_row``.

    Segments must be grouped by row (``seg_row`` non-decreasing) and listed in their order inside the row; their
    lengths per row must sum to at most ``context_length``.
    """
    C = context_length
    seg_src = np.asarray(seg_src, np.int64)
    seg_len = np.asarray(seg_len, np.int64)
    seg_row = np.asarray(seg_row, np.int64)
    S = len(seg_len)
    per_row = np.bincount(seg_row, minlength=num_rows)
    seg_offsets = np.zeros(num_rows + 1, np.int64)
    np.cumsum(per_row, out=seg_offsets[1:])
    ends = np.cumsum(seg_len)
    excl = ends - seg_len
    row_base = np.zeros(num_rows, np.int64)
    nonempty = per_row > 0
    row_base[nonempty] = excl[seg_offsets[:-1][nonempty]]
    in_row = excl - row_base[seg_row]
    fill = np.bincount(seg_row, weights=seg_len, minlength=num_rows).astype(np.int64)
    assert (fill <= C).all(), "a row holds more than context_length tokens"

    # One slice copy per segment (a few thousand per round): cheaper than per-token index arrays.
    input_ids = np.full((num_rows, C), pad_id, dtype=tokens.dtype)
    # Padding positions count 0..pad-1 from the row's fill; real positions are overwritten below.
    position_ids = (np.arange(C, dtype=np.int32)[None, :] - fill[:, None].astype(np.int32)).clip(min=0)
    loss_mask = np.zeros((num_rows, C), np.uint8)
    flat_ids, flat_pos, flat_loss = input_ids.reshape(-1), position_ids.reshape(-1), loss_mask.reshape(-1)
    positions = np.arange(C, dtype=np.int32)
    for src, dst, n in zip(seg_src.tolist(), (seg_row * C + in_row).tolist(), seg_len.tolist()):
        flat_ids[dst : dst + n] = tokens[src : src + n]
        flat_pos[dst : dst + n] = positions[:n]
        flat_loss[dst + 1 : dst + n] = 1

    has_pad = fill < C
    cu_count = 1 + per_row + has_pad
    cu_offsets = np.zeros(num_rows + 1, np.int64)
    np.cumsum(cu_count, out=cu_offsets[1:])
    cu_values = np.zeros(int(cu_offsets[-1]), np.int32)
    seg_in_row = np.arange(S, dtype=np.int64) - seg_offsets[seg_row]
    cu_values[cu_offsets[seg_row] + 1 + seg_in_row] = in_row + seg_len
    cu_values[cu_offsets[1:][has_pad] - 1] = C
    return PackedBatch(
        input_ids=input_ids,
        position_ids=position_ids,
        loss_mask=loss_mask,
        cu_values=cu_values,
        cu_offsets=cu_offsets,
        seg_offsets=seg_offsets,
        seg_len=seg_len,
        num_tokens=fill,
    )
