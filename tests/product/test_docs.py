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
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    for page in ("index.html", "getting-started.html", "reference/config.html", "reference/api.html", "results/benchmarks.html", "encoding.html"):
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


def quickstart_blocks() -> list[tuple[str, str, str]]:
    """(section title, language, code) of every fenced block under README's "Quickstarts", in order."""
    text = README.read_text(encoding="utf-8").split("## Quickstarts")[1].split("\n## ")[0]
    out = []
    for section in text.split("\n### ")[1:]:
        title = section.splitlines()[0]
        out += [(title, lang, code) for lang, code in re.findall(r"```(bash|python)\n(.*?)\n```", section, re.S)]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("title", ["Model team", "Genomics", "Researcher"])
def test_readme_quickstart_runs_as_written(title, shared_data, tmp_path):
    """Each quickstart's blocks, copied from the README, run in order in a checkout-like folder: this repo's .venv,
    ../shared/data beside it, a fresh out/. Only `pip install -e '.[transfer]'` is skipped (the test extra already
    holds the transfer extra, and a test must not reinstall the environment it runs in)."""
    blocks = [(lang, code) for t, lang, code in quickstart_blocks() if t.startswith(title)]
    assert blocks, f"README.md lost its {title} quickstart"
    if title == "Researcher" and importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("the transfer extra is not installed: pip install -e '.[transfer]'")
    checkout = tmp_path / "repo"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "VIRTUAL_ENV")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    for lang, code in blocks:
        if lang == "python":
            cmd = [str(ROOT / ".venv/bin/python"), "-c", code]
        else:
            script = "\n".join(line for line in code.splitlines() if not line.startswith("pip install"))
            cmd = ["bash", "-euo", "pipefail", "-c", script]
        proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{title} quickstart failed:\n{code}\n---\n{(proc.stdout + proc.stderr)[-4000:]}"
        out = proc.stdout
        if title == "Model team" and lang == "bash":
            assert "OK out/model/shards" in out and "packed_rows" in out, out[-2000:]
        if title == "Genomics":
            assert "[CLS]" in out and "bp/token" in out, out[-2000:]
        if title == "Researcher":
            assert "(2, 384)" in out, out[-2000:]
    assert (checkout / "out").is_dir()
