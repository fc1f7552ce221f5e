"""Who owns an output folder, and how a job creates, marks, locks, stages, commits and cleans it: one place.

tokenmill replaces or deletes only what it created and marked as its own:

- a job's output folders (``documents/``, ``dna_segments/``, ``quarantine/``, ``filtered/``, ``tokens/``) carry a
  ``.tokenmill`` marker (:func:`mark_ours`, :func:`is_ours`); a folder of the same name without one was not written
  by tokenmill, and the run refuses to start (:func:`check_replaceable`, :func:`check_output_owned`);
- a run writes into its marked staging folder ``OUT/.staging-<run>`` (:func:`open_staging`) and swaps the staged
  folders into place only after its counts reconcile (:func:`publish`); a staging folder a dead run left is removed
  by the next run (:func:`clean_stale_staging`);
- a corpus build is ours when its folder is named by a build id and its ``build.json`` has our format and that id
  (:func:`is_marked_build`); its staging and publishing are :class:`operators.corpus_build.publish.BuildStore`;
- one writer at a time: :class:`BuildLock` on the output folder (build_corpus; a remote output's persistent staging
  folder);
- a remote output (``s3://...``) is staged in a local folder and uploaded in commit order:
  :func:`operators.io.remote.stage_output`; every file is written atomically: :mod:`operators.core.atomic`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, TextIO

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.core.config import ConfigError

log = logging.getLogger("tokenmill.ingest")  # the name its staging messages have always had

OUTPUT_NAMES = ("documents", "dna_segments", "quarantine", "filtered")
"""The folders ingest (and pack_shards) publish into ``OUT``."""
MARKER = ".tokenmill"  # in every folder a job writes: {"format": "tokenmill output v1", "kind", "run"}
MARKER_FORMAT = "tokenmill output v1"
_STAGING = re.compile(r"^\.staging-\d{8}T\d{6}-[0-9a-f]{8}$")
BUILD_FORMAT = "tokenmill build v1"
BUILD_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


def is_ours(path: Path) -> bool:
    """Whether folder ``path`` carries tokenmill's output marker (only such folders are ever replaced)."""
    try:
        return json.loads((path / MARKER).read_text()).get("format") == MARKER_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def mark_ours(path: Path, kind: str, run_id: str | None) -> None:
    """Mark folder ``path`` as written by tokenmill (what :func:`is_ours` checks)."""
    write_text_atomic(path / MARKER, json.dumps({"format": MARKER_FORMAT, "kind": kind, "run": run_id}))


def check_replaceable(path: Path) -> None:
    """Raise a ConfigError when ``path`` exists and tokenmill did not mark it as its own (it is never replaced)."""
    if path.exists() and not is_ours(path):
        raise ConfigError(
            f"{path} exists and was not written by tokenmill (no {MARKER} marker in it): it is never "
            f"replaced; choose another --output, or move that folder away"
        )


def check_output_owned(output: Path) -> None:
    """Refuse to start when ``output`` holds a folder ingest would replace that tokenmill did not write."""
    for name in OUTPUT_NAMES:
        check_replaceable(output / name)


def open_staging(output: Path, run_id: str) -> Path:
    """The run's marked staging folder ``output/.staging-<run>`` with its ``quarantine/`` (created)."""
    staging = output / f".staging-{run_id}"
    (staging / "quarantine").mkdir(parents=True, exist_ok=True)
    (staging / MARKER).write_text(json.dumps({"format": MARKER_FORMAT, "kind": "staging", "run": run_id}))
    return staging


def clean_stale_staging(output: Path, run_id: str | None) -> None:
    """Remove ``.staging-<run>`` folders of earlier runs that died (only tokenmill's: name pattern + marker).

    The ledger is held by one process at a time, so no other run can be writing into ``output`` now.
    """
    if not output.is_dir():
        return
    for path in output.iterdir():
        if _STAGING.match(path.name) and path.name != f".staging-{run_id}" and path.is_dir() and is_ours(path):
            log.warning("removing the staging folder %s left by a run that did not finish", path)
            shutil.rmtree(path, ignore_errors=True)


def publish(staging: Path, output: Path, result: Any, run_id: str) -> None:
    """Swap the staged outputs into place; an old output is removed only now, and only when it is marked ours.

    ``result`` (an :class:`pipelines._ingest.IngestResult`) names each staged folder of :data:`OUTPUT_NAMES` (None:
    not written by this run); each is set to its published place.
    """
    for name in OUTPUT_NAMES:
        staged = getattr(result, name)
        if staged is None:
            if name == "filtered" and result.documents is not None and is_ours(output / name):
                # an earlier run's filtered documents do not belong to these documents (this run filters nothing)
                shutil.rmtree(output / name)
            continue
        staged.mkdir(parents=True, exist_ok=True)  # an output that got no rows is still published, empty
        mark_ours(staged, name, run_id)
        target = output / name
        if target.exists():
            if not is_ours(target):  # checked at the start too: a folder created meanwhile is still not ours
                raise ConfigError(f"{target} appeared during the run and was not written by tokenmill; the new output stays in {staged}")
            shutil.rmtree(target)
        staged.rename(target)
        setattr(result, name, target)
    shutil.rmtree(staging, ignore_errors=True)


def is_build_id(name: str) -> bool:
    """Whether ``name`` has the shape of a tokenmill build id (``YYYYmmddTHHMMSS-xxxxxxxx``)."""
    return BUILD_ID.match(name) is not None


def is_marked_build(path: Path, build_id: str | None = None) -> bool:
    """Whether ``path`` holds a tokenmill build: its ``build.json`` has our format and ``build_id`` (default: the
    folder's name)."""
    try:
        summary = json.loads((path / "build.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("format") == BUILD_FORMAT and summary.get("build_id") == (build_id or path.name)


class BuildLock:
    """An exclusive lock on an output folder, so two rebuilds of it never interleave.

    Args:
        output: the build output folder.
        wait: seconds to wait for the lock (0: fail at once with a clear message).
    """

    def __init__(self, output: Path, wait: float = 0.0) -> None:
        self.path = Path(output) / ".build.lock"
        self.wait = wait
        self._fh: TextIO | None = None

    def __enter__(self) -> BuildLock:
        """Take the lock, unless :meth:`acquire` already took it (``with lock:`` then only releases it at the end)."""
        return self if self._fh is not None and not self._fh.closed else self.acquire()

    def acquire(self) -> BuildLock:
        """Take the lock (waiting up to ``wait`` seconds); RuntimeError naming the holder if it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")  # noqa: SIM115 (held until release())
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._fh.seek(0)
                    holder = self._fh.read().strip() or "another process"
                    self._fh.close()
                    raise RuntimeError(f"{self.path.parent} is being built by {holder}; wait for it to finish or rerun with --wait SECONDS") from None
                time.sleep(0.5)
        self._fh.truncate(0)
        self._fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        self._fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None  # set by __enter__ / acquire
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
