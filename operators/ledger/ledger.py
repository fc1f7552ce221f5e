"""``OUTPUT/ledger.duckdb``: what every run did — config, inputs, per-stage counts, quarantine reasons, artifacts.

Credentials in URLs (``s3://KEY:SECRET@...``, signed-URL parameters) are redacted in the run's config, error and
input URIs before they are written (:mod:`operators.io.redact`).

Written by the driver only (DuckDB allows one writer process); workers report counts through their outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow as pa

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io.redact import redact, redact_value
from tokenmill.schemas.ledger import LEDGER_TABLES, LEDGER_UPGRADES, LEDGER_VERSION

_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("tokenmill.ledger")


def code_version() -> str:
    """The git commit of this checkout (with ``+dirty`` when it has changes), or the package version."""
    try:
        sha = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        if sha:
            return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "tokenmill-0.1.0"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class Ledger:
    """A run ledger in ``path`` (created with the ``ledger/v1`` tables when new)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the ledger.

        Raises:
            ConfigError: it is held by another process, or it is damaged (the message says how to recover).
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
            self._open()
            for table in LEDGER_TABLES:  # a damaged file can open and fail only when a table is read
                self.con.execute(f'SELECT * FROM "{table}"').fetchall()
        except duckdb.Error as exc:
            with contextlib.suppress(Exception):
                self.con.close()
            raise ConfigError(_open_problem(self.path, exc)) from None
        self.run_id: str | None = None

    def _open(self) -> None:
        self.con.execute(LEDGER_TABLES["meta"])
        row = self.con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        if row is not None and row[0] in LEDGER_UPGRADES:
            for ddl in LEDGER_UPGRADES[row[0]]:
                self.con.execute(ddl)
            self.con.execute("UPDATE meta SET value = ? WHERE key = 'version'", [LEDGER_VERSION])
            log.info("upgraded %s from %s to %s", self.path, row[0], LEDGER_VERSION)
            row = (LEDGER_VERSION,)
        for ddl in LEDGER_TABLES.values():
            self.con.execute(ddl)
        if row is None:
            self.con.execute("INSERT INTO meta VALUES ('version', ?)", [LEDGER_VERSION])
        elif row[0] != LEDGER_VERSION:
            raise ValueError(f"{self.path} is a {row[0]} ledger; this tokenmill writes {LEDGER_VERSION}")

    def mark_aborted(self) -> list[str]:
        """Mark runs of this host still ``running`` whose process has ended as ``aborted`` (or ``succeeded`` when
        they had published their build or shard set before they died); return their ids.

        DuckDB lets one process hold the ledger, so a run left ``running`` by another process is one that was
        killed before it could finish (a run of another host is left alone: its process cannot be checked here).
        """
        rows = self.con.execute(
            """SELECT r.run, p.pid FROM runs r JOIN run_process p ON p.run = r.run
                                   WHERE r.status = 'running' AND p.host = ?""",
            [socket.gethostname()],
        ).fetchall()
        dead = [run for run, pid in rows if pid != os.getpid() and not psutil.pid_exists(pid)]
        for run in dead:
            published = self._published_by(run)
            if published:  # it died after its one atomic publication: what it promised is there
                self.con.execute(
                    "UPDATE runs SET status = 'succeeded', error = ? WHERE run = ?",
                    [f"the run's process ended after it published {published}, before it closed its ledger row (killed?); marked at the next start", run],
                )
                log.warning("run %s ended after publishing %s: marked succeeded", run, published)
                continue
            self.con.execute(
                "UPDATE runs SET status = 'aborted', error = ? WHERE run = ?",
                ["the run's process ended before it finished (killed?); marked at the next start", run],
            )
            log.warning("run %s was killed before it finished: marked aborted", run)
        return dead

    def _published_by(self, run: str) -> str | None:
        """What ``run`` published next to this ledger, in one atomic step: a corpus build (``builds/<id>/build.json``
        naming the run) or a shard set (``shards/manifest.json`` naming it); None when nothing."""
        root = self.path.parent
        candidates = [*sorted(root.glob("builds/*/build.json")), root / "shards" / "manifest.json"]
        for path in candidates:
            try:
                if path.is_file() and json.loads(path.read_text()).get("run_id") == run:
                    return str(path.parent.relative_to(root))
            except (OSError, ValueError, AttributeError):
                continue  # unreadable or not ours: not a publication of this run
        return None

    def start_run(self, pipeline: str, config: dict[str, Any]) -> str:
        """Record a new run with its config; returns the run id."""
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL, 'running', NULL)",
            [self.run_id, pipeline, json.dumps(redact_value(config), default=str, sort_keys=True), code_version(), _now()],
        )
        self.con.execute("INSERT INTO run_process VALUES (?, ?, ?)", [self.run_id, socket.gethostname(), os.getpid()])
        self.mark_aborted()
        return self.run_id

    def add_inputs(self, rows: list[tuple[str, int, float, str]]) -> None:
        """Record input files as (uri, size, mtime, fingerprint)."""
        self._insert("inputs", [(self.run_id, redact(uri), *rest) for uri, *rest in rows])

    def _insert(self, table: str, rows: list[tuple]) -> None:
        """Append ``rows`` (tuples in the table's column order) to ``table`` in one Arrow insert: DuckDB's
        executemany takes ~1 ms a row (1 s for the source counts of 1,000 input files)."""
        if not rows:
            return
        batch = pa.table({f"c{i}": list(c) for i, c in enumerate(zip(*rows))})  # noqa: F841 - read by DuckDB below
        self.con.execute(f"INSERT INTO {table} SELECT * FROM batch")

    def add_stage(self, stage: str, *, rows_in: int, rows_out: int, rows_quarantined: int, bytes: int = 0, tokens: int = 0, seconds: float = 0.0) -> None:
        """Record one stage's counts (and log them: the one-line summary per stage).

        ``bytes`` is what the stage read from input files or wrote to files (never a token count); ``tokens`` the
        token ids it produced or packed.
        """
        log.info("stage %s: %d in, %d out, %d quarantined, %d bytes, %d tokens, %.2f s", stage, rows_in, rows_out, rows_quarantined, bytes, tokens, seconds)
        self.con.execute(
            "INSERT INTO stages (run, stage, rows_in, rows_out, rows_quarantined, bytes, seconds, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [self.run_id, stage, rows_in, rows_out, rows_quarantined, bytes, seconds, tokens],
        )

    def add_quarantine_reasons(self, rows: list[tuple[str, str, int]]) -> None:
        """Record quarantine counts as (stage, reason, count)."""
        self._insert("quarantine_reasons", [(self.run_id, *r) for r in rows])

    def add_filter_reasons(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Record filtered documents as (stage, source, reason, count)."""
        self._insert("filter_reasons", [(self.run_id, *r) for r in rows])

    def add_text_edits(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Record edits inside kept documents as (stage, source, kind, count)."""
        self._insert("text_edits", [(self.run_id, *r) for r in rows])

    def add_source_counts(self, stage: str, rows: list[tuple[str, int, int, int]]) -> None:
        """Record per source (source, records seen, out, quarantined) for a reconciled stage."""
        self._insert("source_counts", [(self.run_id, stage, *r) for r in rows])

    def add_cache(self, stage: str, hits: int, misses: int) -> None:
        """Record a stage's content-addressed cache hits and misses."""
        self.con.execute("INSERT INTO cache VALUES (?, ?, ?, ?)", [self.run_id, stage, hits, misses])

    def add_encoder(self, stage: str, record: dict[str, Any]) -> None:
        """Record the engine that encoded ``stage`` (keys of table ``encoders``)."""
        self.con.execute(
            "INSERT INTO encoders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.run_id,
                stage,
                *(record.get(k) for k in ("engine", "version", "reference", "parity_docs", "parity_tokens", "checked_docs", "fallbacks", "reason")),
            ],
        )

    def add_artifact(self, path: str | Path, kind: str) -> None:
        """Record a file artifact with its sha256 and size (a directory: every file under it)."""
        p = Path(path)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            self.con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?)", [self.run_id, str(f), kind, file_sha256(f), f.stat().st_size])

    def add_remote_artifacts(self, folder: str | Path, kind: str, files: list[tuple[str, str, int]]) -> None:
        """Record files written straight to an object store by workers, as (name in ``folder``, sha256, bytes):
        the checksums their writers computed (the driver never holds them)."""
        for name, sha, size in files:
            self.con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?)", [self.run_id, f"{folder}/{name}", kind, sha, size])

    def finish_run(self, status: str = "succeeded", error: str | None = None) -> None:
        """Close the run with its status (``succeeded``, ``failed``; ``aborted`` is set at the next start)."""
        self.con.execute(
            "UPDATE runs SET finished = ?, status = ?, error = ? WHERE run = ?", [_now(), status, redact(error) if error is not None else None, self.run_id]
        )

    def close(self) -> None:
        self.con.close()


def _open_problem(path: Path, exc: Exception) -> str:
    """One line saying why the ledger at ``path`` cannot be opened and how to recover."""
    message = str(exc).replace("IO Error: ", "")
    if "Could not set lock" in message or "Conflicting lock" in message:
        holder = message.split("Conflicting lock is held in ", 1)[-1].split(". See also", 1)[0] if "held in" in message else "?"
        return (
            f"ledger {path} is in use by another process ({holder}): one run at a time writes an output; wait "
            f"for that run to finish (or stop it), or give this run another --output"
        )
    return (
        f"ledger {path} cannot be read ({message[:200]}): it is damaged (truncated or overwritten?); move it "
        f"aside (mv {path} {path}.damaged) and rerun: a new ledger starts, the outputs are not touched"
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
