"""The README's config tables, generated from the same configs ``--help`` renders (so the two cannot drift).

    python -m tokenmill.pipelines._config_docs            # rewrite the tables in README.md
    python -m tokenmill.pipelines._config_docs --check    # exit 1 naming each job whose table is out of date

Every job in ``pipelines/`` that builds its parser with ``make_parser(__doc__, SomeConfig)`` gets a block in
README.md between ``<!-- config: pipelines/JOB.py -->`` and ``<!-- end config -->``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tokenmill.operators.core.config import config_table  # noqa: E402

_PARSER = re.compile(r"make_parser\(__doc__,\s*(\w+)")
_BLOCK = re.compile(r"(<!-- config: (pipelines/\w+\.py) -->\n)(.*?)(<!-- end config -->)", re.S)


def job_configs() -> dict[str, type]:
    """``pipelines/JOB.py`` → its config class, for every job with a shared command line."""
    jobs = {}
    for path in sorted((ROOT / "pipelines").glob("[!_]*.py")):
        if m := _PARSER.search(path.read_text()):
            module = importlib.import_module(f"tokenmill.pipelines.{path.stem}")
            jobs[f"pipelines/{path.name}"] = getattr(module, m.group(1))
    return jobs


def table(cls: type) -> str:
    """The README table of ``cls``, with paths under the checkout written relative to it (``../shared/...``), so
    the README is the same in every clone."""
    return config_table(cls).replace(str(ROOT.parent) + "/", "../")


def render(readme: str, jobs: dict[str, type]) -> str:
    """``readme`` with every config block replaced by its job's generated table."""
    return _BLOCK.sub(lambda m: m.group(1) + table(jobs[m.group(2)]) + "\n" + m.group(4), readme)


def problems(readme: str, jobs: dict[str, type]) -> list[str]:
    """What is wrong with the README's tables: missing blocks, blocks of unknown jobs, out-of-date tables."""
    found = {m.group(2): m.group(3) for m in _BLOCK.finditer(readme)}
    out = [f"{job}: no config table in README.md (add <!-- config: {job} --> <!-- end config -->)"
           for job in jobs if job not in found]
    out += [f"{job}: README.md has a config table for a job that does not exist" for job in found if job not in jobs]
    out += [f"{job}: README.md's config table differs from --help (run python -m tokenmill.pipelines._config_docs)"
            for job, text in found.items() if job in jobs and text != table(jobs[job]) + "\n"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    path, jobs = ROOT / "README.md", job_configs()
    text = path.read_text()
    if args.check:
        for problem in problems(text, jobs):
            print(problem, file=sys.stderr)
        return 1 if problems(text, jobs) else 0
    path.write_text(render(text, jobs))
    missing = [p for p in problems(render(text, jobs), jobs)]
    for problem in missing:
        print(problem, file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
