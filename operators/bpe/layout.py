"""Constants shared by the numba kernels and their Python owners (kept free of numba imports)."""

SEP = -2
"""Token array value between sequences and at both ends."""
INTERIOR = -1
"""Token array value inside a symbol (a symbol's id is stored at its first and last position)."""
IMPLICIT = -2
"""``head`` value of a pair whose occurrences are scanned for instead of listed."""
EMPTY = -1
"""Empty bucket key of the pair hash index."""

# meta[] fields of a pair table / shard (an int64 array shared by the kernels).
NSLOTS = 0
HEAPN = 1
POOLN = 2
NBLOCKS = 3
META_SIZE = 4

# apply_merge status codes: which array must grow before the step can run (nothing was changed).
NEED_SLOTS = -2
NEED_BLOCKS = -3
