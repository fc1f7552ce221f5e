"""Small driver-side helpers shared by pipelines: one context manager per run (ledger row, exit codes, Ray),
the printed summary."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tokenmill.operators.core.cli import parse_config
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.runtime import ray_runtime
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger("tokenmill")
C = TypeVar("C", bound="DataclassInstance")


class Run:
    """What the body of :func:`job` gets: the run's ledger, and Ray on request (so input checks run before it)."""

    def __init__(self, ledger: Ledger, args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
        assert ledger.run_id is not None, "job() starts the ledger run before the body gets it"
        self.ledger, self.run_id, self._args, self._stack = ledger, ledger.run_id, args, stack

    def start_ray(self) -> dict:
        """Start (or join, under RAY_ADDRESS) Ray; it stops when the run ends, however it ends."""
        return self._stack.enter_context(ray_runtime(self._args.num_cpus, quiet=self._args.quiet))


@contextlib.contextmanager
def job(parser: argparse.ArgumentParser, args: argparse.Namespace, pipeline: str, config: dict, ledger_path: Path) -> Iterator[Run]:
    """One run of ``pipeline``: a ledger row started now and marked succeeded or failed at the end, user errors exit
    2 and lost records exit 4 (:func:`run_guard`), and the Ray the body started with ``run.start_ray()`` stopped on
    every exit, before the run is marked."""
    try:
        ledger = Ledger(ledger_path)  # held by another run, or damaged: one line with the way out, exit 2
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    ledger.start_run(pipeline, config)
    with run_guard(ledger, parser), contextlib.ExitStack() as stack:
        yield Run(ledger, args, stack)


@contextlib.contextmanager
def documents_job(
    parser: argparse.ArgumentParser, config_cls: type[C], pipeline: str, argv: list[str] | None
) -> Iterator[tuple[Run, argparse.Namespace, C, Path]]:
    """:func:`job` for a job whose command line has no flags of its own (``make_parser(__doc__, Config)``): parse it
    into ``config_cls``, then run ``pipeline`` with its ledger in OUT, the input and config recorded. Yields
    ``(run, args, config, OUT resolved)``."""
    args, cfg = parse_config(parser, config_cls, argv)
    output = Path(args.output).resolve()
    with job(parser, args, pipeline, {"input": args.input, **dataclasses.asdict(cfg)}, output / "ledger.duckdb") as run:
        yield run, args, cfg, output


@contextlib.contextmanager
def run_guard(ledger: Ledger, parser: argparse.ArgumentParser) -> Iterator[None]:
    """Mark the ledger run succeeded or failed; a user error exits 2 with its message, counts that do not
    reconcile exit 4 with what was lost where, other errors re-raise."""
    try:
        yield
    except ConfigError as exc:
        ledger.finish_run("failed", str(exc))
        ledger.close()
        parser.error(str(exc))
    except CountMismatch as exc:
        ledger.finish_run("failed", str(exc))
        ledger.close()
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(4) from None
    except BaseException as exc:
        ledger.finish_run("failed", f"{type(exc).__name__}: {exc}")
        ledger.close()
        raise
    else:
        ledger.finish_run("succeeded")
        ledger.close()


def print_ingest_summary(result) -> None:
    """Print per source: records in / out / quarantined, and the quarantine reasons."""
    rows = [("source", "in", "out", "quarantined", "reasons")]
    for e in result.per_source:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(e["reasons"].items()))
        rows.append((_short(e["source"]), str(e["in"]), str(e["out"]), str(e["quarantined"]), reasons))
    t = result.totals
    rows.append(("TOTAL", str(t["records_in"]), str(t["records_out"]), str(t["quarantined"]), ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r[:4], widths))) + ("  " + r[4] if r[4] else ""))
    if t.get("filtered") or any(e.get("filter_reasons") for e in result.per_source):
        print_filtered_summary(result)


def print_filtered_summary(result) -> None:
    """Print per source the documents quality filters dropped, by reason (``<filter>:<rule>``)."""
    rows = [("source", "filtered", "reasons")]
    for e in result.per_source:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(e.get("filter_reasons", {}).items()))
        rows.append((_short(e["source"]), str(e.get("filtered", 0)), reasons))
    rows.append(("TOTAL", str(result.totals.get("filtered", 0)), ""))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for r in rows:
        print(f"{r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}" + ("  " + r[2] if r[2] else ""))


def _short(path: str, width: int = 60) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1) :]
