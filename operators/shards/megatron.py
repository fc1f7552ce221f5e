"""Megatron-core indexed dataset (``.bin`` + ``.idx``), byte-compatible with ``megatron.core.datasets.indexed_dataset``.

Layout of the ``.idx`` (all little-endian), as megatron-core's ``_IndexWriter`` writes it:

=========================  =======================================================================
``b"MMIDIDX\\x00\\x00"``   9-byte magic
``<Q`` 1                   version
``<B``                     dtype code (uint8 1, int8 2, int16 3, int32 4, int64 5, float64 6, float32 7, uint16 8)
``<Q``                     sequence count ``S``
``<Q``                     document count ``D + 1`` (the length of the document-index array)
``int32[S]``               tokens per sequence
``int64[S]``               byte offset of every sequence in the ``.bin``
``int64[D + 1]``           document indices: sequence ranges ``[doc[i], doc[i+1])`` per document
=========================  =======================================================================

The ``.bin`` is the sequences' tokens back to back. We write one sequence per document (so Megatron's samplers
see real documents), i.e. document indices ``0, 1, ..., S``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
CODE_DTYPES = {code: dt for dt, code in DTYPE_CODES.items()}
HEADER_BYTES = len(MAGIC) + 8 + 1 + 8 + 8


class MegatronWriter:
    """Stream documents into a ``.bin`` and write the matching ``.idx`` at close.

    Args:
        bin_path: where the token data goes (the caller picks a temporary name and renames it later).
        idx_path: where the index goes at :meth:`close`.
        dtype: token dtype (one of :data:`DTYPE_CODES`).
    """

    def __init__(self, bin_path: str | Path, idx_path: str | Path, dtype: np.dtype | type) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"MegatronWriter: dtype {self.dtype} has no megatron-core code")
        self.bin_path, self.idx_path = Path(bin_path), Path(idx_path)
        self._bin = open(self.bin_path, "wb")  # noqa: SIM115 (closed by close())
        self._lengths: list[np.ndarray] = []
        self.tokens = 0

    def add(self, values: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents: their concatenated tokens and the length of each."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self._bin.write(memoryview(values).cast("B"))  # type: ignore[arg-type]  # numpy arrays are buffers
        self._lengths.append(np.asarray(lengths, np.int64))
        self.tokens += len(values)

    def close(self) -> None:
        """Close the ``.bin``, then write the ``.idx`` (the shard writer fsyncs and renames both, see
        :func:`operators.core.atomic.replace_atomic`)."""
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        if len(lengths) and lengths.max() > np.iinfo(np.int32).max:
            raise ValueError("MegatronWriter: a document is longer than int32 (megatron-core's sequence length type)")
        write_index(self.idx_path, self.dtype, lengths)

    def abort(self) -> None:
        """Close without finishing (the caller removes the files)."""
        if not self._bin.closed:
            self._bin.close()


def write_index(path: str | Path, dtype: np.dtype, lengths: np.ndarray) -> None:
    """Write a ``.idx`` for one-sequence-per-document data with these sequence lengths (to a temporary name the
    caller publishes through :mod:`operators.core.atomic`)."""
    dtype = np.dtype(dtype)
    lengths = np.asarray(lengths, np.int64)
    pointers = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
    doc_indices = np.arange(len(lengths) + 1, dtype=np.int64)
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(lengths)))
        f.write(struct.pack("<Q", len(doc_indices)))
        f.write(lengths.astype("<i4").tobytes())
        f.write(pointers.astype("<i8").tobytes())
        f.write(doc_indices.astype("<i8").tobytes())


@dataclass(slots=True)
class MegatronIndex:
    """The parsed content of a ``.idx``."""

    dtype: np.dtype
    lengths: np.ndarray
    """int32 tokens per sequence."""
    pointers: np.ndarray
    """int64 byte offset of every sequence."""
    doc_indices: np.ndarray
    """int64 sequence index ranges per document (length documents + 1)."""


def read_index(path: str | Path) -> MegatronIndex:
    """Parse a ``.idx``, checking magic, version, dtype code and the file size.

    Raises:
        ValueError: naming what is wrong with the file.
    """
    data = Path(path).read_bytes()
    if len(data) < HEADER_BYTES or data[: len(MAGIC)] != MAGIC:
        raise ValueError(f"{path}: not a megatron indexed-dataset index (bad magic)")
    pos = len(MAGIC)
    (version,) = struct.unpack_from("<Q", data, pos)
    if version != VERSION:
        raise ValueError(f"{path}: index version {version}, expected {VERSION}")
    (code,) = struct.unpack_from("<B", data, pos + 8)
    if code not in CODE_DTYPES:
        raise ValueError(f"{path}: unknown dtype code {code}")
    seq_count, doc_count = struct.unpack_from("<QQ", data, pos + 9)
    expected = HEADER_BYTES + 4 * seq_count + 8 * seq_count + 8 * doc_count
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, header promises {expected}")
    off = HEADER_BYTES
    lengths = np.frombuffer(data, "<i4", seq_count, off)
    pointers = np.frombuffer(data, "<i8", seq_count, off + 4 * seq_count)
    doc_indices = np.frombuffer(data, "<i8", doc_count, off + 12 * seq_count)
    dtype: np.dtype = np.dtype(CODE_DTYPES[code])  # type: ignore[call-overload]
    return MegatronIndex(dtype=dtype, lengths=lengths, pointers=pointers, doc_indices=doc_indices)


def open_bin(path: str | Path, dtype: np.dtype) -> np.ndarray:
    """Memory-map a ``.bin`` as a flat token array (empty files give an empty array)."""
    if os.path.getsize(path) == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")
