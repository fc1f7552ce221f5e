"""The compiled kernels, from the ahead-of-time build when it exists for this source, else numba JIT (cached).

The AOT module (``python -m operators.bpe``, see :mod:`operators.bpe.aot`) is a plain C extension: a
training process that finds it never imports numba or LLVM, which saves ~130 MB of resident memory and
~0.5 s of start-up. It is named after a hash of the kernel sources, so a stale build is never used.

Every function here has the signature of the kernel of the same name in :mod:`operators.bpe._table`,
:mod:`operators.bpe._count` or :mod:`operators.bpe._shard`.
"""

from __future__ import annotations

import logging

from operators.bpe.aot import EXPORTS, load

log = logging.getLogger(__name__)

_aot = load()
AOT = _aot is not None


def _dispatch(name: str, positions: tuple[int, ...]):
    if _aot is None:
        from operators.bpe import _count, _shard, _table

        return next(getattr(m, name) for m in (_count, _shard, _table) if hasattr(m, name))
    if not positions:
        return getattr(_aot, name)

    def call(*args):
        # The AOT module exports one function per dtype combination, e.g. apply_merge_i2_i4.
        return getattr(_aot, name + "".join("_" + args[i].dtype.str[1:] for i in positions))(*args)

    call.__name__ = name
    return call


histogram = _dispatch("histogram", EXPORTS["histogram"][0])
place = _dispatch("place", EXPORTS["place"][0])
find_slot = _dispatch("find_slot", EXPORTS["find_slot"][0])
reindex = _dispatch("reindex", EXPORTS["reindex"][0])
heap_build = _dispatch("heap_build", EXPORTS["heap_build"][0])
push_and_pop = _dispatch("push_and_pop", EXPORTS["push_and_pop"][0])
apply_deltas = _dispatch("apply_deltas", EXPORTS["apply_deltas"][0])
count_pairs = _dispatch("count_pairs", EXPORTS["count_pairs"][0])
fill_positions = _dispatch("fill_positions", EXPORTS["fill_positions"][0])
apply_merge = _dispatch("apply_merge", EXPORTS["apply_merge"][0])
