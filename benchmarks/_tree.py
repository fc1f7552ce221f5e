"""Run a benchmark contender in a subprocess and measure it: wall time, peak RSS of its whole process tree
(driver + Ray workers + raylet/GCS...) and of the process itself, sampled with psutil."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import psutil


def run_measured(cmd: list[str], cwd: Path | None = None, interval: float = 0.1) -> dict:
    """Run ``cmd``; return ``wall_s``, ``peak_mb`` (tree), ``driver_peak_mb``, ``returncode``, ``stdout``, ``stderr``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"tree": 0, "driver": 0}
    stop = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak["tree"] = max(peak["tree"], total)
                peak["driver"] = max(peak["driver"], root.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    return {
        "wall_s": round(wall, 2),
        "peak_mb": round(peak["tree"] / 2**20),
        "driver_peak_mb": round(peak["driver"] / 2**20),
        "returncode": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
    }
