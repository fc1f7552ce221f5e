"""operators/core/runtime.py: the embedded Ray's temp dir is private (0700) while Ray runs (Ray makes its own dir
0777 at start and at every worker start: it lives inside ours), it is removed when the driver gets SIGTERM (exit
143), and no Ray process (raylet, gcs_server, agents, workers) outlives its driver after a normal run, an exception
or SIGTERM.

Each driver runs in a subprocess with a marker variable of its own in its environment: every process it starts
inherits it, so what survives the driver is found with psutil after it exited. TMPDIR is the system's (/tmp): a
long TMPDIR leaves no room for the private folder around Ray's sockets (see ``ray_temp_dir``)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import json, os, sys, time
import ray
from tokenmill.operators.core.runtime import ray_runtime

@ray.remote
def nap(seconds):
    time.sleep(seconds)
    return os.getpid()

with ray_runtime(1, quiet=True) as info:
    ray.get([nap.remote(0) for _ in range(3)])  # workers started: each one makes Ray's own dir 0777 again
    ray_dir = ray._private.worker._global_node.get_temp_dir_path()
    print(json.dumps({"temp_dir": info["temp_dir"], "ray_dir": ray_dir, "mode": os.stat(info["temp_dir"]).st_mode & 0o777}),
          flush=True)
    if sys.argv[1] == "raise":
        raise RuntimeError("boom")
    if sys.argv[1] == "sigterm":
        ray.get(nap.remote(600))
"""


@pytest.fixture
def marker():
    """A value for TOKENMILL_TEST_MARK in the driver's environment; processes still carrying it are killed at the end."""
    mark = uuid.uuid4().hex
    yield mark
    for proc in _strays(mark):
        proc.kill()


def _env(mark: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "TMPDIR")}
    return {**env, "TOKENMILL_TEST_MARK": mark, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}


def _strays(mark: str) -> list[psutil.Process]:
    """Live processes (not zombies) whose environment carries ``mark``."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get("TOKENMILL_TEST_MARK") == mark:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _no_strays(mark: str, grace: float = 10.0) -> None:
    """Nothing of the driver's Ray is left (given a few seconds: a daemon may be exiting as the driver returns)."""
    deadline = time.monotonic() + grace
    while (left := _strays(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    names = []
    for proc in left:
        try:
            names.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    assert not names, "Ray processes outlived their driver:\n" + "\n".join(names)


def _ray_names(pid: int) -> set[str]:
    names = set()
    for child in psutil.Process(pid).children(recursive=True):
        try:
            names.add(child.name())
        except psutil.Error:
            continue
    return names


@pytest.mark.parametrize("mode", ["ok", "raise"])
def test_no_ray_process_outlives_a_driver_that_ends_or_raises(mode, marker):
    proc = subprocess.run([sys.executable, "-c", DRIVER, mode], env=_env(marker), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == (0 if mode == "ok" else 1), proc.stderr[-3000:]
    assert mode == "ok" or "RuntimeError: boom" in proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["mode"] == 0o700, oct(info["mode"])  # after ray.init and worker starts
    assert Path(info["ray_dir"]).parent == Path(info["temp_dir"])  # Ray's files are inside the private dir
    assert not Path(info["temp_dir"]).exists()
    _no_strays(marker)


def test_sigterm_stops_ray_removes_its_temp_dir_and_exits_143(marker):
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, "sigterm"], env=_env(marker), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once Ray runs a task; the driver then waits on a 600 s one
        assert line, proc.stderr.read()[-3000:] if proc.poll() is not None else "no output"
        temp_dir = Path(json.loads(line)["temp_dir"])
        assert temp_dir.parent == Path("/tmp") and temp_dir.name.startswith(f"tokenmill-ray-{proc.pid}-")
        assert stat.S_IMODE(temp_dir.stat().st_mode) == 0o700  # private while Ray runs
        ray_dir = Path(json.loads(line)["ray_dir"])
        assert ray_dir.parent == temp_dir and (ray_dir / "session_latest").exists()  # Ray's session is inside it
        assert {"raylet", "gcs_server"} <= _ray_names(proc.pid), _ray_names(proc.pid)  # what must not survive
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not temp_dir.exists(), sorted(str(p) for p in temp_dir.rglob("*"))[:20]
    _no_strays(marker)


def test_a_job_leaves_no_ray_process_and_no_temp_dir(marker, shared_data, tmp_path):
    """A real job (ingest of one UDHR file) run as a script: its Ray is gone when it returns, and so is its temp dir."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "pipelines/ingest.py"),
            "--input",
            str(shared_data / "text/udhr/eng.txt"),
            "--output",
            str(tmp_path / "out"),
            "--quiet",
            "--num-cpus",
            "1",
        ],
        env=_env(marker),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert not list(Path("/tmp").glob(f"tokenmill-ray-{proc.pid}-*"))
    _no_strays(marker)
