"""Small driver-side helpers shared by pipelines: run status in the ledger, the printed summary."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Iterator

from operators.core.config import ConfigError
from operators.ledger import Ledger
from operators.ledger.reconcile import CountMismatch

log = logging.getLogger("tokenmill")


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
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r[:4], widths)))
              + ("  " + r[4] if r[4] else ""))


def _short(path: str, width: int = 60) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]
