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
    from operators.core.runtime import init_ray, shutdown_ray

    info = init_ray(num_cpus=2, quiet=True)
    yield info
    shutdown_ray(info)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A real ``ray start --head`` (token auth, dashboard on 127.0.0.1) for ``ray job submit`` tests.

    Yields ``(dashboard_url, env)``: run the Ray CLI with ``env`` so it carries the same RAY_AUTH_MODE/token.
    """
    import secrets
    import subprocess
    import sys

    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    temp_dir = tmp_path_factory.mktemp("rayhead")
    gcs_port, dash_port = _free_port(), _free_port()
    # Every port of its own: the session's embedded Ray already holds the defaults (the dashboard agent's 52365
    # among them), and a head whose job agent cannot bind answers "No available agent to submit job".
    cmd = [str(Path(bin_dir) / "ray"), "start", "--head", f"--port={gcs_port}", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash_port}", "--num-cpus=2", f"--temp-dir={temp_dir}", "--include-dashboard=true",
           "--disable-usage-stats", f"--dashboard-agent-listen-port={_free_port()}",
           f"--dashboard-agent-grpc-port={_free_port()}", f"--metrics-export-port={_free_port()}",
           f"--runtime-env-agent-port={_free_port()}", f"--ray-client-server-port={_free_port()}",
           f"--node-manager-port={_free_port()}", f"--object-manager-port={_free_port()}"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"http://127.0.0.1:{dash_port}", env
    finally:
        _stop_head(str(temp_dir), gcs_port)


def _stop_head(temp_dir: str, gcs_port: int) -> None:
    """Stop only this head's processes (``ray stop`` would also kill the session's embedded Ray, whose driver —
    this pytest process — then exits when its GCS dies)."""
    import psutil

    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if temp_dir in cmd or f":{gcs_port} " in cmd + " " or f"--gcs-address=127.0.0.1:{gcs_port}" in cmd:
            procs += [proc, *proc.children(recursive=True)]
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass


def submit_ray_job(address: str, env: dict, entrypoint: list[str], cwd: Path, timeout: float = 600):
    """``ray job submit --working-dir . -- ENTRYPOINT``; retried while the head's job agent is still starting."""
    import subprocess
    import sys
    import time

    cmd = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", address, "--working-dir", ".",
           "--", *entrypoint]
    deadline = time.monotonic() + 180
    while True:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 or "No available agent" not in proc.stdout + proc.stderr or time.monotonic() > deadline:
            return proc
        time.sleep(5)
