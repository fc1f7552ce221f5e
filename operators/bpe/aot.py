"""Ahead-of-time build of the BPE kernels with ``numba.pycc``: ``python -m tokenmill.operators.bpe``.

Why: numba's JIT keeps LLVM and its typing tables in every training process (~130 MB resident, ~0.5 s to
load even from the cache) — a quarter of HF's whole footprint on the DNABERT-2 corpus. The same kernel
sources compiled ahead of time form a plain C extension that needs neither. The build is optional (it needs a
C compiler, ~1-2 min): without it, or when it is stale, :mod:`operators.bpe.kernels` uses the JIT.

The module goes to ``operators/bpe/__pycache__/`` (ignored by git) under a name holding a hash of the kernel
sources, so editing a kernel retires the old build automatically. ``TOKENMILL_BPE_AOT=0`` forces the JIT.

What is compiled: every signature in the ``EXPORTS`` dict of each module in :data:`KERNEL_MODULES`. A new
kernel is one edit: write it and add its signatures to ``EXPORTS`` in the same module; this build and the
dispatch in :mod:`operators.bpe.kernels` follow.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
from pathlib import Path
from types import ModuleType

import numpy as np

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
KERNEL_MODULES = ("pair_table_kernels", "encode_count_kernels", "merge_kernels")
"""The modules of :mod:`operators.bpe` that hold numba kernels; each lists the ones Python calls, with their
numba signatures, in its ``EXPORTS`` dict (the one place a kernel is declared)."""
SOURCES = (*(m + ".py" for m in KERNEL_MODULES), "kernel_constants.py", "aot.py")


def export_name(kernel: str, signature: str) -> str:
    """The AOT module's name for one variant of ``kernel``: the kernel's name, ``__``, then the dtype of each array
    argument (``place__u1_i8_i8_i4_i2``), so a call finds its variant from its arguments alone (see
    :func:`variant_name`) and loading the build needs no table and no numba."""
    from numba.core import sigutils, types
    from numba.np.numpy_support import as_dtype

    args, _ = sigutils.normalize_signature(signature)
    return kernel + "__" + "_".join(as_dtype(a.dtype).str[1:] for a in args if isinstance(a, types.Array))


def variant_name(kernel: str, args: tuple) -> str:
    """The :func:`export_name` of the variant of ``kernel`` that takes ``args``."""
    return kernel + "__" + "_".join(a.dtype.str[1:] for a in args if isinstance(a, np.ndarray))


def kernel_modules() -> list[ModuleType]:
    """The kernel modules, imported (this imports numba)."""
    return [importlib.import_module(f"tokenmill.operators.bpe.{m}") for m in KERNEL_MODULES]


def module_name() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    return "bpe_aot_" + digest.hexdigest()[:16]


def module_path() -> Path:
    return HERE / "__pycache__" / (module_name() + importlib.machinery.EXTENSION_SUFFIXES[0])


def load() -> ModuleType | None:
    """The AOT module for the current sources, or None (not built, stale, or disabled)."""
    if os.environ.get("TOKENMILL_BPE_AOT", "1") == "0":
        return None
    path = module_path()
    if not path.is_file():
        return None
    try:
        spec = importlib.util.spec_from_file_location(module_name(), path)
        if spec is None or spec.loader is None:
            raise ImportError(f"no extension-module loader for {path}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    except (ImportError, OSError) as exc:  # a broken build: fall back to the JIT
        log.warning("ignoring the BPE AOT module %s: %s", path, exc)
        return None


def build() -> Path:
    """Compile every kernel variant into the AOT module for the current sources; returns its path."""
    from numba.pycc import CC

    path = module_path()
    path.parent.mkdir(exist_ok=True)
    cc = CC(module_name())
    cc.output_dir = str(path.parent)
    cc.verbose = False
    names: set[str] = set()
    for module in kernel_modules():
        for kernel, sigs in module.EXPORTS.items():
            for signature in sigs:
                name = export_name(kernel, signature)
                assert name not in names, f"{name}: two variants of {kernel} take the same array dtypes"
                names.add(name)
                cc.export(name, signature)(getattr(module, kernel).py_func)
    cc.compile()
    for old in path.parent.glob("bpe_aot_*"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
