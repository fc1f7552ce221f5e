"""The ahead-of-time kernel build gives the same merges as the JIT and keeps numba out of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tokenmill.operators.bpe import aot, kernels

ROOT = Path(__file__).resolve().parents[3]
_PROBE = """
import json, sys
from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.bpe.kernels import AOT
segments = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith(">")]
m = train_bpe(["".join(segments)[i:i + 1000] for i in range(0, 48000, 1000)], BpeTrainerConfig(vocab_size=300))
print(json.dumps({"aot": AOT, "numba": "numba" in sys.modules, "merges": m.merges}))
"""


def _probe(shared_data: Path, use_aot: bool) -> dict:
    env = {**os.environ, "TOKENMILL_BPE_AOT": "1" if use_aot else "0", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(shared_data / "dna" / "lambda_phage.fa")], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_aot_build_matches_jit(shared_data):
    if not aot.module_path().is_file():
        aot.build()  # ~1 min with a C compiler
    built, jit = _probe(shared_data, True), _probe(shared_data, False)
    assert built["aot"] and not built["numba"]
    assert not jit["aot"] and jit["numba"]
    assert built["merges"] == jit["merges"] and len(built["merges"]) == 291


def test_stale_or_disabled_build_is_not_used(monkeypatch):
    monkeypatch.setenv("TOKENMILL_BPE_AOT", "0")
    assert aot.load() is None
    assert aot.module_name().startswith("bpe_aot_") and len(aot.module_name()) == 24


def test_each_kernel_is_declared_once_and_the_build_and_dispatch_follow():
    # A kernel is declared in its module's EXPORTS only; the AOT export names and operators.bpe.kernels derive from it.
    declared = {k: sigs for m in aot.kernel_modules() for k, sigs in m.EXPORTS.items()}
    assert set(kernels.KERNELS) == set(declared) and all(callable(getattr(kernels, k)) for k in declared)
    names = [aot.export_name(k, s) for k, sigs in declared.items() for s in sigs]
    assert len(names) == len(set(names)) == 21
    assert aot.export_name("place", "i8(u1[:], i8[:], i8[:], i4[:], i2[:])") == "place__u1_i8_i8_i4_i2"
    args = (np.zeros(1, np.uint8), np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(9, np.int32), 5, np.zeros(3, np.int16))
    assert aot.variant_name("place", args) == "place__u1_i8_i8_i4_i2"
