"""Published builds: immutable ``builds/<id>/`` folders, an atomically switched ``builds/CURRENT``, retention, a lock.

A build is assembled in ``builds/.tmp-<id>/`` and renamed to ``builds/<id>/`` only after its shards verify;
``CURRENT`` (a one-line file naming the build) is then replaced atomically (write, fsync, rename). Readers that
follow CURRENT therefore always see a complete, verified build. The last ``keep`` builds are kept.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path


class BuildLock:
    """An exclusive lock on an output folder, so two rebuilds of it never interleave.

    Args:
        output: the build output folder.
        wait: seconds to wait for the lock (0: fail at once with a clear message).
    """

    def __init__(self, output: Path, wait: float = 0.0) -> None:
        self.path = Path(output) / ".build.lock"
        self.wait = wait
        self._fh = None

    def __enter__(self) -> "BuildLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
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
                    raise RuntimeError(f"{self.path.parent} is being built by {holder}; wait for it to finish "
                                       f"or rerun with --wait SECONDS") from None
                time.sleep(0.5)
        self._fh.truncate(0)
        self._fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        self._fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


class BuildStore:
    """The ``builds/`` folder of an output: staging, publishing, CURRENT, retention."""

    def __init__(self, output: Path) -> None:
        self.root = Path(output) / "builds"
        self.root.mkdir(parents=True, exist_ok=True)

    def current(self) -> str | None:
        """The id of the published build CURRENT points at, or None."""
        path = self.root / "CURRENT"
        return path.read_text().strip() if path.is_file() else None

    def staging(self, build_id: str) -> Path:
        """A fresh staging folder for ``build_id`` (stale ones from killed runs are removed)."""
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        path = self.root / f".tmp-{build_id}"
        path.mkdir()
        return path

    def publish(self, staging: Path, build_id: str, keep: int) -> Path:
        """Move a verified staging folder to ``builds/<id>``, switch CURRENT to it, drop builds beyond ``keep``."""
        final = self.root / build_id
        os.rename(staging, final)
        _fsync_dir(self.root)
        tmp = self.root / "CURRENT.tmp"
        with open(tmp, "w") as fh:
            fh.write(build_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / "CURRENT")
        _fsync_dir(self.root)
        for old in self.builds()[:-keep]:
            shutil.rmtree(self.root / old, ignore_errors=True)
        return final

    def builds(self) -> list[str]:
        """Published build ids, oldest first (ids sort by time)."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load_summary(self, build_id: str | None) -> dict | None:
        """The ``build.json`` of a published build, or None."""
        if not build_id or not (self.root / build_id / "build.json").is_file():
            return None
        return json.loads((self.root / build_id / "build.json").read_text())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
