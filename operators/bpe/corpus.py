"""Training input for the BPE engine: any (sequence, count) source -> a :class:`SeqTable` -> one flat token array.

Accepted inputs (what ``train_bpe`` takes): an iterable of strings (identical strings are counted), an
iterable of ``(string, count)`` pairs, a mapping ``string -> count``, or Arrow data — a ``pa.Table`` /
``pa.RecordBatch`` / iterable of them — with a string column ``seq`` and an optional integer column ``count``.
ASCII data (DNA) is kept as one byte per character; Arrow input is read straight from its buffers. pyarrow is
imported only for Arrow input (it is ~30 MB of resident memory a string-list caller does not need).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenmill.operators.bpe import kernels
from tokenmill.operators.bpe.kernel_constants import SEP

SEQ = "seq"
COUNT = "count"


@dataclass(frozen=True, slots=True)
class SeqTable:
    """Sequences with counts: all characters concatenated, per-row offsets, per-row counts (all > 0)."""

    chars: np.ndarray
    """uint8 bytes when every sequence is ASCII, else uint32 code points."""
    offsets: np.ndarray
    """int64, one more than rows: row i is ``chars[offsets[i]:offsets[i + 1]]``."""
    counts: np.ndarray
    """int64 count of each row."""

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def n_chars(self) -> int:
        return int(self.offsets[-1] - self.offsets[0])

    def alphabet(self) -> set[str]:
        """Every character that occurs."""
        if self.chars.size == 0:
            return set()
        present = np.nonzero(kernels.histogram(self.chars, int(self.chars.max()) + 1))[0]
        return {chr(int(c)) for c in present}

    def split(self, n: int) -> list[SeqTable]:
        """``n`` contiguous parts with about the same number of characters (some may be empty)."""
        cuts = np.searchsorted(self.offsets, np.linspace(0, self.offsets[-1], n + 1)[1:-1])
        bounds = [0, *[int(c) for c in cuts], len(self)]
        out = []
        for lo, hi in itertools.pairwise(bounds):
            off = self.offsets[lo : hi + 1]
            out.append(SeqTable(self.chars[off[0] : off[-1]], off - off[0], self.counts[lo:hi]))
        return out


def to_seq_table(data: Any) -> SeqTable:
    """Normalize a training input (see the module docstring) to a :class:`SeqTable` without empty or zero rows.

    Raises:
        ValueError: for Arrow data without a ``seq`` column, negative counts, or an unsupported input type.
    """
    if isinstance(data, SeqTable):
        return data
    if isinstance(data, (str, bytes)):
        raise ValueError("train_bpe: expected an iterable of sequences, got a single string; wrap it in a list")
    if _is_arrow(data):
        return _from_arrow([data])
    if isinstance(data, Mapping):
        return _from_pairs(list(data.items()))
    items = list(data)
    if items and all(_is_arrow(x) for x in items):
        return _from_arrow(items)
    if all(isinstance(x, str) for x in items):
        return _from_pairs(list(Counter(items).items()))
    if all(isinstance(x, (tuple, list)) and len(x) == 2 for x in items):
        return _from_pairs(items)
    raise ValueError("train_bpe: input must be strings, (string, count) pairs, a mapping or Arrow tables with a 'seq' column; got a mix or another type")


def _is_arrow(x: Any) -> bool:
    return type(x).__module__.startswith("pyarrow") and hasattr(x, "column_names")


def _from_pairs(pairs: list) -> SeqTable:
    seqs, counts = [], []
    for seq, count in pairs:
        if not isinstance(seq, str) or isinstance(count, bool) or not isinstance(count, (int, np.integer)):
            raise ValueError(f"train_bpe: expected (str, int) pairs, got ({type(seq).__name__}, {type(count).__name__})")
        if count < 0:
            raise ValueError(f"train_bpe: negative count {count} for sequence {seq[:20]!r}; counts must be >= 0")
        if count > 0 and seq:
            seqs.append(seq)
            counts.append(int(count))
    lengths = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    joined = "".join(seqs)
    chars = np.frombuffer(joined.encode("ascii"), np.uint8) if joined.isascii() else np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    return SeqTable(chars, offsets, np.asarray(counts, np.int64))


def _from_arrow(tables: list) -> SeqTable:
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for t in tables:
        if isinstance(t, pa.RecordBatch):
            t = pa.Table.from_batches([t])
        if SEQ not in t.column_names:
            raise ValueError(f"train_bpe: input table lacks column(s) {SEQ} (has {', '.join(t.column_names) or 'none'})")
        seq = pc.cast(t.column(SEQ), pa.large_string())
        count = pc.cast(t.column(COUNT), pa.int64()) if COUNT in t.column_names else pa.array(np.ones(len(t), np.int64))
        count = pc.fill_null(count, 0)
        if len(t) and pc.min(count).as_py() < 0:
            raise ValueError("train_bpe: column 'count' has negative values; counts must be >= 0")
        keep = pc.and_(pc.greater(count, 0), pc.greater(pc.fill_null(pc.binary_length(seq), 0), 0))
        parts.append(pa.table({SEQ: seq, COUNT: count}).filter(keep))
    table = pa.concat_tables(parts).combine_chunks()
    counts = table.column(COUNT).to_numpy().astype(np.int64)
    if table.num_rows == 0:
        return SeqTable(np.zeros(0, np.uint8), np.zeros(1, np.int64), counts)
    arr = table.column(SEQ).chunk(0)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
    raw = np.frombuffer(bufs[2], np.uint8)[offsets[0] : offsets[-1]]
    if raw.size == 0 or int(raw.max()) < 128:  # ASCII: bytes are characters, no copy
        return SeqTable(raw, (offsets - offsets[0]).astype(np.int64), counts)
    return _from_pairs(list(zip(arr.to_pylist(), counts.tolist())))


@dataclass(frozen=True, slots=True)
class EncodedCorpus:
    """A corpus part's sequences as one flat token array (see :mod:`operators.bpe.merge_kernels` for the layout)."""

    tok: np.ndarray
    """int16/int32 token ids, ``SEP`` between sequences and at both ends."""
    wpos: np.ndarray
    """int64 start position of each run of sequences sharing one count (sorted by count, descending)."""
    wval: np.ndarray
    """int64 count of each run."""
    n_sequences: int
    n_chars: int


def encode(table: SeqTable, str_to_id: Mapping[str, int], vocab_size: int) -> EncodedCorpus:
    """Encode ``table`` with the character ids of ``str_to_id`` (every character must have one)."""
    n = len(table)
    lut_size = int(table.chars.max()) + 1 if table.chars.size else 1
    lut = np.full(lut_size, SEP, np.int32)
    for s, i in str_to_id.items():
        if len(s) == 1 and ord(s) < lut_size:
            lut[ord(s)] = i
    counts = table.counts
    # Sorting by count puts equal weights in runs (one run for DNA), found later by binary search.
    order = np.argsort(-counts, kind="stable") if n and counts.min() != counts.max() else np.arange(n)
    lengths = np.diff(table.offsets)[order]
    starts = np.concatenate([[1], 1 + np.cumsum(lengths + 1)[:-1]]) if n else np.zeros(0, np.int64)
    dtype = np.int16 if vocab_size <= np.iinfo(np.int16).max else np.int32
    tok = np.empty(table.n_chars + n + 1, dtype)
    bad = kernels.place(table.chars, table.offsets, order, lut, tok)
    if bad >= 0:
        raise ValueError(f"train_bpe: character {chr(int(table.chars[bad]))!r} has no id in the alphabet")
    sorted_counts = counts[order]
    change = np.nonzero(np.diff(sorted_counts))[0] + 1 if n else np.zeros(0, np.int64)
    wpos = np.concatenate([[0], starts[change]]).astype(np.int64)
    wval = (np.concatenate([sorted_counts[:1], sorted_counts[change]]) if n else np.ones(1)).astype(np.int64)
    return EncodedCorpus(tok, wpos, wval, n, table.n_chars)
