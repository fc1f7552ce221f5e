"""The configuration reference of the docs site (docs/reference/config.md), generated from the same config
dataclasses ``--help`` and ``tokenmill config JOB`` render, so the three cannot drift.

    python -m tokenmill.pipelines._config_docs            # rewrite docs/reference/config.md (make docs does this)
    python -m tokenmill.pipelines._config_docs --check    # exit 1 when the page is out of date

Every job in ``pipelines/`` that builds its parser with ``make_parser(__doc__, SomeConfig)`` gets a section. Keys
that several jobs share (``ingest.*``, ``shards.*``, ``encode.*``, ``romanizer.*``, ``fairness.*``) are listed once,
with the defaults of the job named in ``SHARED``; a job's own table keeps only its other keys and the shared keys
whose default (or meaning) differs in that job, so no row is repeated seven times.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from pathlib import Path

from tokenmill.cli import JOBS
from tokenmill.operators.core.config import config_keys

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "config.md"
"""The generated page."""

_PARSER = re.compile(r"make_parser\(__doc__,\s*(\w+)")

SHARED = {
    "ingest": ("pipelines/ingest.py", "Reading and cleaning raw input: formats, fields, languages, DNA segments, dedup, quality filters."),
    "encode": ("pipelines/pack_shards.py", "Which encoding engine turns text into ids (see [Encoding engines](../encoding.md))."),
    "shards": ("pipelines/pack_shards.py", "Packing documents into rows and writing the shard files."),
    "romanizer": ("pipelines/romanize.py", "uroman romanization in a Ray actor pool."),
    "fairness": ("pipelines/fairness_report.py", "The fairness report on a parallel corpus."),
}
"""Shared section → (the job whose defaults its table shows, what it is for)."""

VOCABULARY = {
    "workers": (
        "Ray workers (tasks or actors) a job runs at once; 0 = one per CPU of the cluster wherever 0 is allowed "
        "(transfer-tokenizer's serving actors each hold the hypernetwork: at least 1).",
        r"^Ray workers \(.+\) at once: ",
    ),
    "batch_size": (
        "Items per batch, in the job's own unit (documents; hypernetwork training: text chunks; transfer: vocabulary "
        "tokens). Documents per tokenizer call is `encode.batch_size`.",
        r"^[A-Z][\w ]* per ",
    ),
    "seed": ("The seed of a job's random draws: same seed, same output.", r"[Ss]eed"),
    "vocab_size": ("Size of the vocabulary trained, special tokens included.", r"^Vocabulary size"),
    "min_frequency": ("The fewest occurrences of a pair that is still merged.", r"pair .*occur"),
    "romanize": ("Romanize the text with uroman first.", r"^Romanize .* with uroman"),
    "parallel": (
        "Parallel text (the same content in several languages, as UDHR): multilingual-tokenizer names its files, "
        "train-hypernetwork draws its UDHR chunks aligned across languages.",
        r"[Pp]arallel|aligned",
    ),
}
"""Top-level keys that several jobs use, each with its one meaning (a row of the page) and a pattern every job's
docstring for it matches (tests/pipelines/test_config_vocabulary.py)."""

SYNONYMS = {
    "concurrency": "workers",
    "num_workers": "workers",
    "n_workers": "workers",
    "parallelism": "workers",
    "num_actors": "workers",
    "actors": "workers",
    "processes": "workers",
    "encode_batch_size": "encode.batch_size",
    "tokenizer_batch_size": "encode.batch_size",
    "random_seed": "seed",
    "rng_seed": "seed",
    "vocabulary_size": "vocab_size",
    "n_vocab": "vocab_size",
    "seq_len": "shards.pack.context_length",
    "seq_length": "shards.pack.context_length",
    "max_seq_len": "shards.pack.context_length",
    "block_size": "shards.pack.context_length",
    "num_threads": "threads",
    "n_threads": "threads",
}
"""Words tokenmill does not use for a setting, with the key it uses instead (no job may have them as keys)."""

Row = tuple[str, str, str, str]


def job_configs() -> dict[str, type]:
    """``pipelines/JOB.py`` → its config class, for every job with a shared command line."""
    jobs = {}
    for path in sorted((ROOT / "pipelines").glob("[!_]*.py")):
        if m := _PARSER.search(path.read_text()):
            module = importlib.import_module(f"tokenmill.pipelines.{path.stem}")
            jobs[f"pipelines/{path.name}"] = getattr(module, m.group(1))
    return jobs


def _local(text: str) -> str:
    """Paths under the checkout written relative to it (``../shared/...``), so the page is the same in every clone."""
    return text.replace(str(ROOT.parent) + "/", "../")


def rows(cls: type) -> list[Row]:
    """``cls``' config keys as (key, type, default, meaning): the rows ``--help`` prints."""
    return [(key, tname, _local(default), _local(doc)) for key, tname, default, doc in config_keys(cls)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _prose(text: str) -> str:
    """``text`` as a table cell of prose: brackets outside code spans escaped (``[CLS] [SEP]`` is no link)."""
    parts = re.split(r"(`+[^`]*?`+)", text)
    return _cell("".join(p if p.startswith("`") else p.replace("[", "\\[").replace("]", "\\]") for p in parts))


def table(items: list[Row]) -> str:
    """A markdown table of ``items``."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {_cell(tname)} | `{_cell(default)}` | {_prose(doc)} |" for key, tname, default, doc in items]
    return "\n".join(lines)


def _section(key: str) -> str | None:
    """The shared section a key belongs to (``sources[].ingest.format`` → ``ingest``), or None."""
    head = key.removeprefix("sources[].").split(".")[0]
    return head if head in SHARED and "." in key.removeprefix("sources[].") else None


def shared_rows(jobs: dict[str, type]) -> dict[str, list[Row]]:
    """Shared section → its rows, with the defaults of the job ``SHARED`` names for it."""
    return {name: [r for r in rows(jobs[job]) if _section(r[0]) == name] for name, (job, _) in SHARED.items() if job in jobs}


def command(job: str) -> str:
    """``pipelines/pack_shards.py`` → ``pack-shards``."""
    return job.removeprefix("pipelines/").removesuffix(".py").replace("_", "-")


def render(jobs: dict[str, type]) -> str:
    """The whole page."""
    shared = shared_rows(jobs)
    known = {(r[0], r[1], r[2], r[3]) for items in shared.values() for r in items}
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m tokenmill.pipelines._config_docs` (`make docs`) from the config dataclasses;",
        "     edit their field docstrings, not this page. tests/pipelines/test_config_docs.py fails when it is stale. -->",
        "",
        "Every job reads one YAML file (`--config job.yaml`) plus `--set key=value` overrides, and the same key means",
        "the same thing in every job and in a corpus YAML. `tokenmill config JOB` prints a job's keys as a commented",
        "YAML with these defaults; `tokenmill JOB --help` lists the same keys. Nested keys are YAML sections",
        "(`shards: {pack: {context_length: 2048}}`) or dotted names on the command line",
        '(`--set shards.pack.context_length=2048`). Unknown keys are errors with a "did you mean"; a renamed key',
        "(`context_length`, `lang_from` at the top level, a source's flat `format:`) is an error that names the new key.",
        "",
        "## Vocabulary",
        "",
        "Keys that several jobs use mean one thing in all of them:",
        "",
        "| key | means |",
        "|---|---|",
        *(f"| `{key}` | {_cell(meaning)} |" for key, (meaning, _) in VOCABULARY.items()),
        "",
        *_deprecated_lines(jobs),
        "## Shared sections",
        "",
    ]
    for name, items in shared.items():
        job, what = SHARED[name]
        out += [
            f"### `{name}.*` {{#section-{name}}}",
            "",
            f"{what} Defaults as in `tokenmill {command(job)}`; a job that",
            "differs says so in its own table below.",
            "",
            table(items),
            "",
        ]
    out += ["## Jobs", ""]
    order = {f"pipelines/{m}.py": i for i, m in enumerate(JOBS)}  # tokenmill --help's order
    for job, cls in sorted(jobs.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        items = rows(cls)
        own = [r for r in items if _section(r[0]) is None or (r[0].removeprefix("sources[]."), *r[1:]) not in known]
        sections = sorted({s for r in items if (s := _section(r[0])) is not None})
        prefix = {s: "sources[]." if any(r[0].startswith(f"sources[].{s}.") for r in items) else "" for s in sections}
        out += [f"### `tokenmill {command(job)}` {{#{command(job)}}}", "", f"`{job}`; `tokenmill config {command(job)}` prints these keys as YAML."]
        if sections:
            links = ", ".join(f"[`{prefix[s]}{s}.*`](#section-{s})" for s in sections)
            out += ["", f"Also takes every key of the shared sections {links}, with the defaults shown there unless this table lists the key."]
        out += ["", table(own) if own else "No keys of its own.", ""]
    return "\n".join(out)


def _deprecated_lines(jobs: dict[str, type]) -> list[str]:
    """The old spellings that still work (each job's ``DEPRECATED``), as a paragraph of the page (none: no lines)."""
    old = [f"`{o}` ({command(job)}) → `{n}`" for job, cls in sorted(jobs.items()) for o, n in getattr(cls, "DEPRECATED", {}).items()]
    return ["Old spellings that still work, with a warning: " + "; ".join(old) + ".", ""] if old else []


def problems(text: str, jobs: dict[str, type]) -> list[str]:
    """What is wrong with the page ``text``: empty when it is exactly what :func:`render` gives."""
    want = render(jobs)
    if text == want:
        return []
    diff = [
        line
        for line in difflib.unified_diff(text.splitlines(), want.splitlines(), "docs/reference/config.md", "generated", n=0, lineterm="")
        if line[:1] in "+-"
    ]
    return [
        "docs/reference/config.md differs from the config dataclasses (run make docs, or python -m "
        "tokenmill.pipelines._config_docs); first differences:\n" + "\n".join(diff[:12])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the page is out of date")
    args = parser.parse_args(argv)
    jobs = job_configs()
    if args.check:
        found = problems(PAGE.read_text(encoding="utf-8") if PAGE.is_file() else "", jobs)
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(jobs), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
