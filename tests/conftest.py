"""Shared fixtures: the real data folder and a session-scoped local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder ``../shared/data`` (skips with a clear message when it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is missing (CI has it; see DESIGN.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray (2 CPUs) shared by the whole test session."""
    os.environ.pop("RAY_ADDRESS", None)
    from tokenmill.operators.core.runtime import init_ray, shutdown_ray

    info = init_ray(num_cpus=2, quiet=True)
    yield info
    shutdown_ray(info)


@pytest.fixture(scope="session")
def ray_head():
    """A real head started as ``make cluster`` starts one (token auth, dashboard on 127.0.0.1, its own ports).

    Yields ``(dashboard_url, env)``: run the Ray CLI with ``env`` so it carries the same RAY_AUTH_MODE/token.
    """
    import secrets
    import sys
    import tempfile

    from tokenmill.operators.core.ray_head import start_head, stop_head

    env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
    }
    env.pop("RAY_ADDRESS", None)
    temp_dir = Path(tempfile.mkdtemp(prefix="tmh-"))  # short: Ray's sockets live under it
    state = start_head(temp_dir, num_cpus=2, env=env)
    try:
        yield state["address"], env
    finally:
        stop_head(state)


def submit_ray_job(address: str, env: dict, entrypoint: list[str], cwd: Path, timeout: float = 600):
    """``ray job submit --working-dir . -- ENTRYPOINT``; retried while the head's job agent is still starting."""
    import subprocess
    import sys
    import time

    cmd = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", address, "--working-dir", ".", "--", *entrypoint]
    deadline = time.monotonic() + 180
    while True:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 or "No available agent" not in proc.stdout + proc.stderr or time.monotonic() > deadline:
            return proc
        time.sleep(5)


def run_ray_job(ray_head: tuple[str, dict], script: str, *args: str):
    """``python SCRIPT ARGS...`` submitted from the repository to the ``ray_head`` fixture's head; asserts it succeeded
    (the output's tails in the message) and returns the finished process."""
    address, env = ray_head
    proc = submit_ray_job(address, env, ["python", script, *args], ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc
