"""The compiled kernels, from the ahead-of-time build when it exists for this source, else numba JIT (cached).

The AOT module (``python -m tokenmill.operators.bpe``, see :mod:`operators.bpe.aot`) is a plain C extension: a
training process that finds it never imports numba or LLVM, which saves ~130 MB of resident memory and
~0.5 s of start-up. It is named after a hash of the kernel sources, so a stale build is never used.

``kernels.NAME`` is the kernel named NAME in the ``EXPORTS`` dict of a kernel module
(:mod:`~operators.bpe.pair_table_kernels`, :mod:`~operators.bpe.encode_count_kernels`,
:mod:`~operators.bpe.merge_kernels`), called with that kernel's arguments: ``kernels.apply_merge(...)``. In the AOT
build a kernel compiled for several dtypes is one function per variant; the call picks it by the dtypes of its
array arguments (:func:`operators.bpe.aot.variant_name`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tokenmill.operators.bpe import aot

log = logging.getLogger(__name__)

_aot = aot.load()
AOT = _aot is not None


def _aot_kernel(module: Any, kernel: str) -> Callable:
    variants = [name for name in dir(module) if name.startswith(kernel + "__")]
    if len(variants) == 1:
        return getattr(module, variants[0])

    def call(*args):
        return getattr(module, aot.variant_name(kernel, args))(*args)

    call.__name__ = kernel
    return call


def _kernels() -> dict[str, Callable]:
    if _aot is None:
        return {kernel: getattr(m, kernel) for m in aot.kernel_modules() for kernel in m.EXPORTS}
    kernels = {name.partition("__")[0] for name in dir(_aot) if not name.startswith("_") and "__" in name}
    return {kernel: _aot_kernel(_aot, kernel) for kernel in sorted(kernels)}


KERNELS = _kernels()
"""kernel name -> the function to call."""


def __getattr__(name: str) -> Callable:
    """``kernels.NAME``: ``KERNELS[NAME]``."""
    try:
        return KERNELS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
