"""Ahead-of-time build of the BPE kernels with ``numba.pycc``: ``python -m operators.bpe``.

Why: numba's JIT keeps LLVM and its typing tables in every training process (~130 MB resident, ~0.5 s to
load even from the cache) — a quarter of HF's whole footprint on the DNABERT-2 corpus. The same kernel
sources compiled ahead of time form a plain C extension that needs neither. The build is optional (it needs a
C compiler, ~1-2 min): without it, or when it is stale, :mod:`operators.bpe.kernels` uses the JIT.

The module goes to ``operators/bpe/__pycache__/`` (ignored by git) under a name holding a hash of the kernel
sources, so editing a kernel retires the old build automatically. ``TOKENMILL_BPE_AOT=0`` forces the JIT.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOURCES = ("_table.py", "_count.py", "_shard.py", "layout.py", "aot.py")

# name -> (argument positions whose dtypes pick the variant, numba signature, variants)
_TOK, _POOL, _DATA = ("i2", "i4"), ("i4", "i8"), ("u1", "u4")
EXPORTS: dict[str, tuple[tuple[int, ...], str, list[tuple[str, ...]]]] = {
    "histogram": ((0,), "i8[:]({0}[:], i8)", [(d,) for d in _DATA]),
    "place": ((0, 4), "i8({0}[:], i8[:], i8[:], i4[:], {1}[:])", [(d, t) for d in _DATA for t in _TOK]),
    "find_slot": ((), "i8(i8[:], i4[:], i8, i8)", [()]),
    "reindex": ((), "void(i8[:], i4[:], i4[:], i4[:], i8)", [()]),
    "heap_build": ((), "void(i8[:], i4[:], i8[:], i4[:], i4[:], i8[:], i8, i8)", [()]),
    "push_and_pop": ((), "i8(i8[:], i4[:], i8[:], i4[:], i4[:], i8[:], i4[:], i8, i8)", [()]),
    "apply_deltas": ((), "i8(i8[:], i4[:], i4[:], i4[:], i8[:], i4[:], i8[:], i8[:], i8[:], i8, i4[:])", [()]),
    "count_pairs": ((0,), "Tuple((i8[:], i4[:], i4[:], i4[:], i8[:], i8[:], i8))({0}[:], i4[:], i8[:], i8[:], i8)",
                    [(t,) for t in _TOK]),
    "fill_positions": ((0, 7), "UniTuple(i8, 2)({0}[:], i4[:], i8[:], i4[:], i8[:], i8, i8, {1}[:], i8[:], i4[:], "
                               "i4[:], i4[:], i4[:])", [(t, p) for t in _TOK for p in _POOL]),
    "apply_merge": ((0, 11), "Tuple((i8, i8, i8, i8, {1}[:]))({0}[:], i4[:], i8[:], i8[:], i8[:], i4[:], i4[:], "
                             "i4[:], i8[:], i4[:], i8[:], {1}[:], i8[:], i4[:], i4[:], i4[:], i8[:, :], i8[:], i8[:], "
                             "i4[:], i8, i8, i8, b1, i8, i8, i8)", [(t, p) for t in _TOK for p in _POOL]),
}


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
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    except (ImportError, OSError) as exc:  # a broken build: fall back to the JIT
        log.warning("ignoring the BPE AOT module %s: %s", path, exc)
        return None


def build() -> Path:
    """Compile every kernel variant into the AOT module for the current sources; returns its path."""
    from numba.pycc import CC

    from operators.bpe import _count, _shard, _table

    path = module_path()
    path.parent.mkdir(exist_ok=True)
    cc = CC(module_name())
    cc.output_dir = str(path.parent)
    cc.verbose = False
    for name, (_, signature, variants) in EXPORTS.items():
        func = next(getattr(m, name) for m in (_count, _shard, _table) if hasattr(m, name)).py_func
        for variant in variants:
            cc.export(name + "".join("_" + v for v in variant), signature.format(*variant))(func)
    cc.compile()
    for old in path.parent.glob("bpe_aot_*"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
