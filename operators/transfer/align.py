"""Align two tokenizations of the same text by character span: the segments both agree on.

A *cut* is a character position where a token ends in both tokenizations. Between consecutive cuts lies a
segment that both cover with whole tokens, so the mean hidden state of its tokens can be compared across the two
tokenizations (ZeTT-style distillation where tokens align; a segment of one token on each side is an exact
match). Each token belongs to the segment of the first cut at or after its end. Tokens ending after the last
cut (a trailing token only one side has) get segment -1.

``segment_ids`` is the vectorized path used in training; ``segment_ids_reference`` is the plain loop it is tested
against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def segment_ids(ends_a: np.ndarray, ends_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Segment of every token of tokenization ``a`` and ``b`` (token end offsets, non-decreasing).

    Returns:
        (segments of a's tokens, segments of b's tokens, number of segments).
    """
    ends_a = np.asarray(ends_a, np.int64)
    ends_b = np.asarray(ends_b, np.int64)
    cuts = np.intersect1d(ends_a, ends_b)
    seg_a = np.searchsorted(cuts, ends_a, side="left")
    seg_b = np.searchsorted(cuts, ends_b, side="left")
    seg_a[seg_a >= len(cuts)] = -1
    seg_b[seg_b >= len(cuts)] = -1
    return seg_a, seg_b, len(cuts)


def segment_ids_reference(ends_a: Sequence[int], ends_b: Sequence[int]) -> tuple[list[int], list[int], int]:
    """The plain version of :func:`segment_ids`."""
    cuts = sorted(set(ends_a) & set(ends_b))

    def assign(ends: Sequence[int]) -> list[int]:
        out = []
        for e in ends:
            seg = -1
            for k, c in enumerate(cuts):
                if c >= e:
                    seg = k
                    break
            out.append(seg)
        return out

    return assign(ends_a), assign(ends_b), len(cuts)
