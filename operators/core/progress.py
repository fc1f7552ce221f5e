"""Progress of long loops (BPE merges, build partitions, hypernetwork steps): one helper, two renderings.

On a terminal it is a tqdm bar; otherwise (logs of a scheduled job, ``ray job logs``) a log line each time another
``every_percent`` of the work is done, so a non-interactive log still shows a run is moving and how far it got.
``--quiet`` (``TOKENMILL_QUIET=1``, see :mod:`operators.core.cli`) shows neither.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger("tokenmill.progress")


class Progress:
    """``with Progress(total, "BPE merges", unit="merge") as bar: ... bar.update()``."""

    def __init__(self, total: int, desc: str, *, unit: str = "it", every_percent: float = 10.0, tty: bool | None = None, enabled: bool = True) -> None:
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.done, self.every = 0, max(every_percent, 1.0)
        self._next = self.every
        self._t0 = time.monotonic()
        quiet = os.environ.get("TOKENMILL_QUIET") == "1" or not enabled
        self.bar: Any = None
        if not quiet and (sys.stderr.isatty() if tty is None else tty):
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=desc, unit=unit, dynamic_ncols=True)
        self.logs = not quiet and self.bar is None

    def update(self, n: int = 1, *, fraction: float | None = None, **postfix: Any) -> None:
        """Count ``n`` more units done. ``fraction`` (0..1) overrides ``done / total`` as the share of the work done,
        for loops that may end on another limit first (hypernetwork training stops at steps or at its time budget)."""
        self.done += n
        pct = 100.0 * (fraction if fraction is not None else self.done / self.total if self.total else 0.0)
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix(**postfix, refresh=False)
        elif self.logs and pct >= self._next:
            extra = "".join(f", {k}={v}" for k, v in postfix.items())
            log.info("%s: %d/%d %ss (%.0f%%, %.1f s)%s", self.desc, self.done, self.total, self.unit, pct, time.monotonic() - self._t0, extra)
            while self._next <= pct:
                self._next += self.every

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
