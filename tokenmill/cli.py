"""The ``tokenmill`` command: one subcommand per job in ``pipelines/``, plus ``tokenmill config JOB``.

    tokenmill --help                          # every job, one line each
    tokenmill pack-shards --tokenizer T --input 'raw/*.jsonl' --output OUT
    tokenmill config pack-shards > job.yaml   # every config key with its default, commented
    tokenmill pack-shards --config job.yaml --tokenizer T --input ... --output OUT

``tokenmill JOB ARGS`` calls the job module's ``main(ARGS)``, the same function ``python pipelines/JOB.py ARGS``
and ``ray job submit -- python pipelines/JOB.py ARGS`` run, so the three behave the same. Listing the jobs reads
the job files' docstrings without importing them (``tokenmill --help`` starts no Ray, imports no torch).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PROG = "tokenmill"

JOBS = (
    "ingest",
    "pack_shards",
    "verify_shards",
    "build_corpus",
    "lineage",
    "dna_bpe",
    "multilingual_tokenizer",
    "fairness_report",
    "mixture_audit",
    "dynamic_tokenize",
    "romanize",
    "train_hypernetwork",
    "transfer_tokenizer",
)
"""Job modules of ``tokenmill.pipelines``, in the order ``--help`` lists them (subcommands use dashes)."""

_CONFIG_CLASS = re.compile(r"make_parser\(__doc__,\s*(\w+)")


def command(module: str) -> str:
    """``pack_shards`` → ``pack-shards``."""
    return module.replace("_", "-")


def pipelines_dir() -> Path:
    """The folder of the job modules (``tokenmill/pipelines``, a link to the repo's ``pipelines/``)."""
    spec = importlib.util.find_spec("tokenmill.pipelines")
    assert spec is not None and spec.submodule_search_locations, "tokenmill.pipelines is part of the package"
    return Path(next(iter(spec.submodule_search_locations)))


def description(module: str) -> str:
    """The first line of the job's module docstring, read from its source (the module is not imported)."""
    doc = ast.get_docstring(ast.parse((pipelines_dir() / f"{module}.py").read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""


def usage() -> str:
    """``tokenmill --help``: the commands and every job with its one-line description."""
    width = max(len(command(m)) for m in JOBS)
    jobs = "\n".join(f"  {command(m):<{width}}  {description(m)}" for m in JOBS)
    return (
        f"usage: {PROG} JOB [--input PATH_OR_GLOB ...] [--output DIR] [--config FILE.yaml] [--set KEY=VALUE ...]\n"
        f"       {PROG} config JOB     print JOB's config keys as a commented YAML with their defaults\n"
        f"       {PROG} JOB --help     JOB's options and every config key\n\n"
        f"Raw corpora -> tokenizers and packed training shards, on Ray (RAY_ADDRESS: a cluster; else a local Ray).\n\n"
        f"jobs:\n{jobs}\n"
    )


def resolve(name: str) -> str | None:
    """The job module named by ``name`` (``pack-shards`` or ``pack_shards``), or None."""
    module = name.replace("-", "_")
    return module if module in JOBS else None


def unknown_job(name: str) -> int:
    """Say that ``name`` is no job (with the closest one) and return the usage-error status 2."""
    close = difflib.get_close_matches(name.replace("_", "-"), [command(m) for m in JOBS], n=1, cutoff=0.5)
    hint = f", did you mean {close[0]}?" if close else ""
    print(f"{PROG}: error: unknown job {name!r}{hint} ({PROG} --help lists every job)", file=sys.stderr)
    return 2


def config_class(module: str) -> type | None:
    """The config dataclass job ``module`` builds its parser from (``make_parser(__doc__, Config)``), or None for a
    job whose options are flags only (verify-shards, lineage)."""
    match = _CONFIG_CLASS.search((pipelines_dir() / f"{module}.py").read_text(encoding="utf-8"))
    if match is None:
        return None
    return getattr(importlib.import_module(f"tokenmill.pipelines.{module}"), match.group(1))


def print_config(name: str) -> int:
    """``tokenmill config JOB``: JOB's config as a commented YAML of its defaults, on stdout."""
    from tokenmill.operators.core.config import config_yaml

    module = resolve(name)
    if module is None:
        return unknown_job(name)
    cls = config_class(module)
    if cls is None:
        print(f"{PROG}: error: {command(module)} has no config file; its options are flags ({PROG} {command(module)} --help)", file=sys.stderr)
        return 2
    header = (
        f"{PROG} {command(module)}: every config key with its default. Keep the lines you change, then run\n"
        f"  {PROG} {command(module)} --config THIS.yaml [--input ...] [--output ...] [--set KEY=VALUE ...]"
    )
    sys.stdout.write(config_yaml(cls, header=header))
    return 0


@contextlib.contextmanager
def program_name(name: str) -> Iterator[None]:
    """argparse names the program after ``sys.argv[0]``: ``tokenmill pack-shards: error: ...`` while a job parses."""
    saved = sys.argv[:]
    sys.argv[:1] = [name]
    try:
        yield
    finally:
        sys.argv[:] = saved


def run_job(module: str, argv: list[str], prog: str | None = None) -> int:
    """Run job ``module``'s ``main(argv)`` and return its exit status (a job missing an extra: one line, status 2)."""
    from tokenmill.operators.transfer.extra import MissingExtra

    with program_name(prog or f"{PROG} {command(module)}"):
        try:
            job = importlib.import_module(f"tokenmill.pipelines.{module}")
            return int(job.main(argv) or 0)
        except MissingExtra as exc:
            print(f"{prog or f'{PROG} {command(module)}'}: error: {exc}", file=sys.stderr)
            return 2


def main(argv: list[str] | None = None) -> int:
    """The ``tokenmill`` console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(usage())
        return 2
    first, rest = args[0], args[1:]
    if first in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return 0
    if first == "--version":
        from tokenmill import __version__

        print(f"{PROG} {__version__}")
        return 0
    if first == "config":
        if len(rest) != 1 or rest[0].startswith("-"):
            print(f"{PROG}: error: usage: {PROG} config JOB (JOB: one of {', '.join(command(m) for m in JOBS)})", file=sys.stderr)
            return 2
        return print_config(rest[0])
    module = resolve(first)
    if module is None:
        return unknown_job(first)
    return run_job(module, rest)


if __name__ == "__main__":
    sys.exit(main())
