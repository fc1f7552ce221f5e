"""Published builds: immutable ``builds/<id>/`` folders, an atomically switched ``builds/CURRENT``, retention, a lock.

A build is assembled in ``builds/.tmp-<id>/`` and renamed to ``builds/<id>/`` only after its shards verify;
``CURRENT``, a relative symbolic link to ``<id>`` (so ``ls builds/CURRENT/`` and every client follow it), is
then switched atomically (new link under a temporary name, rename; see :mod:`operators.core.atomic`), and
``CURRENT.id`` names the same build for stores without links. Readers that follow CURRENT therefore always see a complete, verified build. The
last ``keep`` builds are kept.

tokenmill deletes only what it created and marked as its own. A published build is ours when its folder name is
a build id (``YYYYmmddTHHMMSS-xxxxxxxx``) and its ``build.json`` says ``"format": "tokenmill build v1"`` with that
``build_id``; a staging folder is ours when it is named ``.tmp-<build id>`` and holds the ``.tokenmill-staging``
marker written when it was created (the rules live with every other output's in :mod:`operators.core.outputs`,
with the build lock). Anything else in ``builds/`` (a user's folder, a copied release) is never
touched, and retention never deletes the build just published nor the one CURRENT names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path

from tokenmill.operators.core.atomic import rename_dir_atomic, symlink_atomic, write_text_atomic
from tokenmill.operators.core.outputs import BUILD_FORMAT, is_build_id, is_marked_build

log = logging.getLogger(__name__)

STAGING_PREFIX = ".tmp-"
STAGING_MARKER = ".tokenmill-staging"


class BuildStore:
    """The ``builds/`` folder of an output: staging, publishing, CURRENT, retention."""

    def __init__(self, output: Path) -> None:
        self.root = Path(output) / "builds"
        self.root.mkdir(parents=True, exist_ok=True)

    def current(self) -> str | None:
        """The id of the published build CURRENT points at, or None."""
        path = self.root / "CURRENT"
        if path.is_symlink():
            return os.readlink(path)
        return path.read_text().strip() if path.is_file() else None  # written by tokenmill before links

    def new_id(self, run_id: str, now: dt.datetime | None = None) -> str:
        """A build id for the run ``run_id``: ``now`` (UTC) to the second and the run id's last 8 characters, moved
        to one second after the newest published build when it would not sort after it (two builds in one second,
        a clock set back), so that ids sort in the order builds were published: :meth:`builds`, retention and
        ``builds()[-1]`` rely on it. Call it while holding the :class:`BuildLock`."""
        stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        published = self.builds()
        if published:
            newest = dt.datetime.strptime(published[-1][:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            stamp = max(stamp, newest + dt.timedelta(seconds=1))
        return stamp.strftime("%Y%m%dT%H%M%S") + "-" + run_id[-8:]

    def staging(self, build_id: str) -> Path:
        """A fresh, marked staging folder for ``build_id``; stale ones that killed runs of tokenmill left are removed.

        Call it while holding the :class:`BuildLock`: no other build of this output is staging then.
        """
        for stale in self.root.glob(STAGING_PREFIX + "*"):
            if self._is_our_staging(stale):
                log.info("removing stale staging folder %s (left by an interrupted build)", stale)
                shutil.rmtree(stale, ignore_errors=True)
        path = self.root / f"{STAGING_PREFIX}{build_id}"
        path.mkdir()
        (path / STAGING_MARKER).write_text(f"tokenmill staging folder of build {build_id}\n")
        return path

    def _is_our_staging(self, path: Path) -> bool:
        name = path.name[len(STAGING_PREFIX) :]
        if not (path.is_dir() and not path.is_symlink() and is_build_id(name)):
            return False
        # The marker is removed just before the rename; a run killed in between leaves the build.json marker.
        return (path / STAGING_MARKER).is_file() or is_marked_build(path, name)

    def publish(self, staging: Path, build_id: str, keep: int) -> Path:
        """Move a verified staging folder to ``builds/<id>``, switch CURRENT to it, drop our builds beyond ``keep``.

        Retention considers only marked builds (see the module docstring), oldest first by id, and never deletes
        ``build_id`` or the build CURRENT names.
        """
        if not is_build_id(build_id):
            raise ValueError(f"build id {build_id!r} is not of the form YYYYmmddTHHMMSS-xxxxxxxx")
        if not is_marked_build(staging, build_id):
            raise RuntimeError(f"{staging}/build.json is missing or is not a '{BUILD_FORMAT}' summary of build {build_id}; write it before publishing")
        (staging / STAGING_MARKER).unlink(missing_ok=True)
        final = self.root / build_id
        rename_dir_atomic(staging, final)
        # The id file first: a crash between the two leaves CURRENT on the previous build, which is complete.
        # A fixed temporary name: publishing holds the lock, and a crashed run's leftover is simply overwritten.
        write_text_atomic(self.root / "CURRENT.id", build_id + "\n", tmp=self.root / "CURRENT.id.tmp")
        symlink_atomic(build_id, self.root / "CURRENT")
        protected = {build_id, self.current()}
        ours = self.builds()
        for old in ours[:-keep]:
            if old not in protected:
                log.info("retention (keep_builds=%d): removing build %s", keep, old)
                shutil.rmtree(self.root / old, ignore_errors=True)
        return final

    def builds(self) -> list[str]:
        """Published tokenmill build ids (marked folders only), oldest first (ids sort by time)."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.is_symlink() and is_build_id(p.name) and is_marked_build(p))

    def load_summary(self, build_id: str | None) -> dict | None:
        """The ``build.json`` of a published build, or None."""
        if not build_id or not (self.root / build_id / "build.json").is_file():
            return None
        return json.loads((self.root / build_id / "build.json").read_text())
