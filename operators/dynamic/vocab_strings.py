"""Strings of a batch's new tokens, built as Arrow buffers without a Python string per token.

A new token's vocabulary string (``ĠofĠthe``) and surface (`` of the``) are its base tokens' strings and surfaces
concatenated. :class:`PieceTable` holds one byte string per base id, flat; :func:`gather_pieces` concatenates
the pieces of every new token's base decomposition in one numba pass, and :func:`string_array` wraps the result
as a ``pa.string()`` array. :func:`vocab_buffers` does all of a batch's vocabulary in one call. Surfaces of byte-level pieces may cut a character in two, so
:func:`utf8_replace` first decodes them as Python's ``bytes.decode("utf-8", "replace")`` does: each maximal
ill-formed subsequence (Unicode 3.9, "U+FFFD substitution of maximal subparts") becomes one U+FFFD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from tokenmill.operators.dynamic.merge_kernel import expand_merges


@dataclass(frozen=True, slots=True)
class PieceTable:
    """One byte string per id, concatenated: piece ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""

    data: np.ndarray
    """uint8 [total bytes]."""
    offsets: np.ndarray
    """int64 [ids + 1]."""

    @classmethod
    def of(cls, pieces: Sequence[bytes]) -> PieceTable:
        offsets = np.zeros(len(pieces) + 1, np.int64)
        np.cumsum([len(p) for p in pieces], out=offsets[1:])
        return cls(np.frombuffer(b"".join(pieces), np.uint8).copy(), offsets)


@njit(cache=True)
def gather_pieces(flat: np.ndarray, flat_offsets: np.ndarray, data: np.ndarray, offsets: np.ndarray):
    """String ``k`` = the pieces of ids ``flat[flat_offsets[k]:flat_offsets[k + 1]]`` concatenated.

    Returns:
        (uint8 bytes, int32 offsets [strings + 1]): Arrow's layout of a string column.
    """
    m = len(flat_offsets) - 1
    out_offsets = np.zeros(m + 1, np.int32)
    for k in range(m):
        n = 0
        for j in range(flat_offsets[k], flat_offsets[k + 1]):
            n += offsets[flat[j] + 1] - offsets[flat[j]]
        out_offsets[k + 1] = out_offsets[k] + n
    out = np.empty(out_offsets[m], np.uint8)
    pos = 0
    for j in range(len(flat)):
        lo, hi = offsets[flat[j]], offsets[flat[j] + 1]
        out[pos : pos + hi - lo] = data[lo:hi]
        pos += hi - lo
    return out, out_offsets


@njit(cache=True)
def _well_formed_length(data: np.ndarray, i: int, end: int) -> int:
    """Length of the well-formed UTF-8 sequence at ``data[i]`` (< ``end``), or minus the length of its maximal
    subpart (the longest prefix of a well-formed sequence, at least one byte) when it is ill-formed."""
    b0 = data[i]
    if b0 < 0x80:
        return 1
    if 0xC2 <= b0 <= 0xDF:
        need, lo, hi = 1, 0x80, 0xBF
    elif b0 == 0xE0:
        need, lo, hi = 2, 0xA0, 0xBF
    elif 0xE1 <= b0 <= 0xEC or 0xEE <= b0 <= 0xEF:
        need, lo, hi = 2, 0x80, 0xBF
    elif b0 == 0xED:
        need, lo, hi = 2, 0x80, 0x9F
    elif b0 == 0xF0:
        need, lo, hi = 3, 0x90, 0xBF
    elif 0xF1 <= b0 <= 0xF3:
        need, lo, hi = 3, 0x80, 0xBF
    elif b0 == 0xF4:
        need, lo, hi = 3, 0x80, 0x8F
    else:  # a continuation byte, C0, C1 or F5..FF: never part of a well-formed sequence
        return -1
    for k in range(1, need + 1):
        if i + k >= end:
            return -k
        b = data[i + k]
        if not (lo <= b <= hi):  # only the second byte has a narrower range
            return -k
        lo, hi = 0x80, 0xBF
    return need + 1


@njit(cache=True)
def utf8_replace(data: np.ndarray, offsets: np.ndarray):
    """Every string of an Arrow-layout column (uint8 bytes, int32 offsets) decoded with ``errors="replace"``
    and encoded again: valid UTF-8 whatever the input. Returns the input arrays when all strings are valid."""
    m = len(offsets) - 1
    grow = 0  # each replaced subpart (1..3 bytes) becomes the 3 bytes EF BF BD
    bad = 0
    for k in range(m):
        i, end = offsets[k], offsets[k + 1]
        while i < end:
            n = _well_formed_length(data, i, end)
            if n < 0:
                grow += 3 + n
                bad += 1
                n = -n
            i += n
    if bad == 0:
        return data, offsets
    out = np.empty(len(data) + grow, np.uint8)
    out_offsets = np.zeros(m + 1, np.int32)
    pos = 0
    for k in range(m):
        i, end = offsets[k], offsets[k + 1]
        while i < end:
            n = _well_formed_length(data, i, end)
            if n > 0:
                out[pos : pos + n] = data[i : i + n]
                pos += n
                i += n
            else:
                out[pos], out[pos + 1], out[pos + 2] = 0xEF, 0xBF, 0xBD
                pos += 3
                i -= n
        out_offsets[k + 1] = pos
    return out, out_offsets


@njit(cache=True)
def vocab_buffers(
    left: np.ndarray,
    right: np.ndarray,
    base_vocab: int,
    dynamic_ids: np.ndarray,
    str_data: np.ndarray,
    str_offsets: np.ndarray,
    surf_data: np.ndarray,
    surf_offsets: np.ndarray,
):
    """Everything a batch vocabulary needs from its merges, in one call.

    Returns:
        (base decompositions: flat int32 + int32 offsets; vocabulary strings: bytes + offsets; surfaces, decoded
        with ``errors="replace"``: bytes + offsets; int64 occurrences of each new id in ``dynamic_ids``).
    """
    flat, offsets = expand_merges(left, right, base_vocab)
    tok_data, tok_offsets = gather_pieces(flat, offsets, str_data, str_offsets)
    raw, raw_offsets = gather_pieces(flat, offsets, surf_data, surf_offsets)
    surf, surf_out = utf8_replace(raw, raw_offsets)
    count = np.zeros(len(left), np.int64)
    for t in dynamic_ids:
        if t >= base_vocab:
            count[t - base_vocab] += 1
    return flat, offsets, tok_data, tok_offsets, surf, surf_out, count


def string_array(data: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """A ``pa.string()`` array over (valid UTF-8 bytes, int32 offsets), without copying."""
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
