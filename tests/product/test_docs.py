"""The docs site builds strictly (as `make docs` does: a broken link, a missing page or any warning fails), and the
README stays short, links only to pages that exist and shows the same quickstarts as the site."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_docs_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (the test extra pulls it) to build the docs site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    for page in ("index.html", "getting-started.html", "reference/config.html", "reference/api.html",
                 "results/benchmarks.html", "encoding.html"):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "reference/api.html").read_text(encoding="utf-8")
    assert 'id="tokenmill.api.pack_shards"' in api, "the API reference lost the docstrings of tokenmill.api"


def test_readme_is_short_and_its_links_exist():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300, "README.md is over 300 lines: move the detail into docs/"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def test_readme_quickstarts_are_the_getting_started_ones():
    """The site's getting-started page shows the README's quickstart commands word for word."""
    readme = README.read_text(encoding="utf-8").split("## Quickstarts")[1].split("\n## ")[0]
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|python)\n.*?\n```", readme, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        assert block in page, f"docs/getting-started.md lacks the README's block:\n{block}"


def test_docs_name_no_machine_paths():
    """Paths are written as a user's clone sees them (../shared/data), never as this machine's."""
    for path in [README, *(ROOT / "docs").rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w./:])/(work|home|root|Users)/", text), path
