"""Constants shared by the numba kernels and their Python owners, and the dtypes their variants are built for.

Kept free of numba imports: a training process that uses the ahead-of-time build imports this module but never
numba (see :mod:`operators.bpe.aot`).
"""

from __future__ import annotations

from itertools import product

SEP = -2
"""Token array value between sequences and at both ends."""
INTERIOR = -1
"""Token array value inside a symbol (a symbol's id is stored at its first and last position)."""
IMPLICIT = -2
"""``head`` value of a pair whose occurrences are scanned for instead of listed."""
EMPTY = -1
"""Empty bucket key of the pair hash index."""

# meta[] fields of a pair table / corpus part (an int64 array shared by the kernels).
NSLOTS = 0
HEAPN = 1
POOLN = 2
NBLOCKS = 3
META_SIZE = 4

# apply_merge status codes: which array must grow before the step can run (nothing was changed).
NEED_SLOTS = -2
NEED_BLOCKS = -3

# The dtypes a kernel argument may have, by role (numba signature codes).
TOKEN_DTYPES = ("i2", "i4")
"""Token array: int16 while the vocabulary fits, else int32."""
POSITION_DTYPES = ("i4", "i8")
"""Position pool: int32 while the token array is shorter than 2**31, else int64."""
CHAR_DTYPES = ("u1", "u4")
"""Characters of a training table: ASCII bytes, else code points."""


def signatures(template: str, *dtype_choices: tuple[str, ...]) -> list[str]:
    """The numba signatures of one kernel: ``template`` with ``{0}``, ``{1}``, ... replaced by every
    combination of ``dtype_choices`` (one signature when there are none), e.g.
    ``signatures("i8({0}[:], {1}[:])", CHAR_DTYPES, TOKEN_DTYPES)`` gives four."""
    return [template.format(*combo) for combo in product(*dtype_choices)]
