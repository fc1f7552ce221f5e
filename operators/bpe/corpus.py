"""Training input for the BPE engine: any (sequence, count) source -> an Arrow table -> one flat token array.

Accepted inputs (what ``train_bpe`` takes): an iterable of strings (identical strings are counted), an
iterable of ``(string, count)`` pairs, a mapping ``string -> count``, or Arrow data — a ``pa.Table`` /
``pa.RecordBatch`` / iterable of them — with a string column ``seq`` and an optional integer column ``count``.
Arrow input is used as is (no Python string per row): ASCII data is read straight from the Arrow buffers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from operators.bpe._shard import SEP

SEQ = "seq"
COUNT = "count"


def to_table(data: Any) -> pa.Table:
    """Normalize a training input to a table ``seq: large_string, count: int64`` without empty or zero rows.

    Raises:
        ValueError: for Arrow data without a ``seq`` column, negative counts or an unsupported input type.
    """
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        tables = [data]
    elif isinstance(data, Mapping):
        tables = [_from_pairs(data.items())]
    elif isinstance(data, (str, bytes)):
        raise ValueError("train_bpe: expected an iterable of sequences, got a single string; wrap it in a list")
    else:
        items = list(data)
        if items and all(isinstance(x, (pa.Table, pa.RecordBatch)) for x in items):
            tables = items
        elif all(isinstance(x, str) for x in items):
            tables = [_from_pairs(Counter(items).items())]
        elif all(isinstance(x, (tuple, list)) and len(x) == 2 for x in items):
            tables = [_from_pairs(items)]
        else:
            raise ValueError("train_bpe: input must be strings, (string, count) pairs, a mapping or Arrow "
                             "tables with a 'seq' column; got a mix or another type")
    parts = []
    for t in tables:
        if isinstance(t, pa.RecordBatch):
            t = pa.Table.from_batches([t])
        missing = [c for c in (SEQ,) if c not in t.column_names]
        if missing:
            raise ValueError(f"train_bpe: input table lacks column(s) {', '.join(missing)} "
                             f"(has {', '.join(t.column_names) or 'none'})")
        seq = pc.cast(t.column(SEQ), pa.large_string())
        count = (pc.cast(t.column(COUNT), pa.int64()) if COUNT in t.column_names
                 else pa.chunked_array([pa.array(np.ones(len(t), np.int64))]))
        if len(t) and pc.min(count).as_py() is not None and pc.min(count).as_py() < 0:
            raise ValueError("train_bpe: column 'count' has negative values; counts must be >= 0")
        parts.append(pa.table({SEQ: seq, COUNT: count}))
    table = pa.concat_tables(parts) if parts else pa.table({SEQ: pa.array([], pa.large_string()),
                                                           COUNT: pa.array([], pa.int64())})
    keep = pc.and_(pc.greater(pc.fill_null(table[COUNT], 0), 0),
                   pc.greater(pc.fill_null(pc.binary_length(table[SEQ]), 0), 0))
    return table.filter(keep)


def _from_pairs(pairs: Iterable[tuple[str, int]]) -> pa.Table:
    seqs, counts = [], []
    for seq, count in pairs:
        if not isinstance(seq, str) or isinstance(count, bool) or not isinstance(count, (int, np.integer)):
            raise ValueError(f"train_bpe: expected (str, int) pairs, got ({type(seq).__name__}, {type(count).__name__})")
        seqs.append(seq)
        counts.append(int(count))
    return pa.table({SEQ: pa.array(seqs, pa.large_string()), COUNT: pa.array(counts, pa.int64())})


@dataclass(frozen=True, slots=True)
class _Chars:
    """The characters of a table: ``data`` (uint8 for ASCII, else uint32 code points) and per-row ``offsets``."""

    data: np.ndarray
    offsets: np.ndarray


def _chars(table: pa.Table) -> _Chars:
    arr = table.column(SEQ).combine_chunks() if table.num_rows else pa.array([], pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int64)[arr.offset: arr.offset + len(arr) + 1] if len(arr) else np.zeros(1, np.int64)
    raw = np.frombuffer(bufs[2], np.uint8) if len(arr) and bufs[2] is not None else np.zeros(0, np.uint8)
    raw = raw[offsets[0]: offsets[-1]]
    offsets = offsets - offsets[0]
    if raw.size == 0 or int(raw.max()) < 128:  # ASCII: bytes are characters, zero copy
        return _Chars(raw, offsets)
    # Non-ASCII: code points via UTF-32 (rare for DNA; text tokenizers take this path).
    texts = arr.to_pylist()
    lengths = np.fromiter((len(s) for s in texts), np.int64, len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
    return _Chars(codes, np.concatenate([[0], np.cumsum(lengths)]))


def table_alphabet(table: pa.Table) -> set[str]:
    """Every character that occurs in the table's ``seq`` column."""
    chars = _chars(table)
    if chars.data.size == 0:
        return set()
    present = np.nonzero(np.bincount(chars.data, minlength=1))[0]
    return {chr(int(c)) for c in present}


@dataclass(frozen=True, slots=True)
class EncodedCorpus:
    """A shard's sequences as one flat token array (see :mod:`operators.bpe._shard` for the layout)."""

    tok: np.ndarray
    """int16/int32 token ids, ``SEP`` between sequences and at both ends."""
    wpos: np.ndarray
    """int64 start position of each run of sequences sharing one count (sorted by count, descending)."""
    wval: np.ndarray
    """int64 count of each run."""
    n_sequences: int
    n_chars: int


def encode_table(table: pa.Table, str_to_id: Mapping[str, int], vocab_size: int) -> EncodedCorpus:
    """Encode ``table`` with the character ids of ``str_to_id`` (every character must have one)."""
    chars = _chars(table)
    counts = table.column(COUNT).to_numpy() if table.num_rows else np.zeros(0, np.int64)
    n = len(counts)
    lut_size = int(chars.data.max()) + 1 if chars.data.size else 1
    lut = np.full(lut_size, SEP, np.int32)
    for s, i in str_to_id.items():
        if len(s) == 1 and ord(s) < lut_size:
            lut[ord(s)] = i
    order = np.argsort(-counts, kind="stable") if n and counts.min() != counts.max() else np.arange(n)
    lengths = np.diff(chars.offsets)[order]
    starts = np.concatenate([[1], 1 + np.cumsum(lengths + 1)[:-1]]) if n else np.zeros(0, np.int64)
    dtype = np.int16 if vocab_size <= np.iinfo(np.int16).max else np.int32
    tok = np.empty(int(chars.data.size) + n + 1, dtype)
    bad = _place(chars.data, chars.offsets, order, lut, tok)
    if bad >= 0:
        raise ValueError(f"train_bpe: character {chr(int(chars.data[bad]))!r} has no id in the alphabet")
    sorted_counts = counts[order]
    change = np.nonzero(np.diff(sorted_counts))[0] + 1 if n else np.zeros(0, np.int64)
    wpos = np.concatenate([[0], starts[change]]).astype(np.int64)
    wval = (np.concatenate([sorted_counts[:1], sorted_counts[change]]) if n else np.ones(1)).astype(np.int64)
    return EncodedCorpus(tok, wpos, wval, n, int(chars.data.size))


@njit(cache=True)
def _place(data, offsets, order, lut, tok):
    """Write the rows of ``data`` in ``order`` into ``tok`` as ids, a SEP before, between and after them.

    Returns -1, or the index in ``data`` of a character without an id.
    """
    pos = 0
    tok[pos] = SEP
    pos += 1
    for j in range(order.shape[0]):
        r = order[j]
        for i in range(offsets[r], offsets[r + 1]):
            v = lut[data[i]]
            if v < 0:
                return i
            tok[pos] = v
            pos += 1
        tok[pos] = SEP
        pos += 1
    return -1
