"""`make cluster`'s head (operators/core/ray_head.py) is safe to start and stop (issue 31, "Hangs and strays"):
a missing prerequisite fails at once with one line and starts nothing, a failed start leaves nothing running, the head
listens on loopback only, and `stop` leaves no process and no listening port of the head (the Ray client server
included)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tokenmill.operators.core import ray_head

ROOT = Path(__file__).resolve().parents[2]


def head_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "MAKEFLAGS", "MFLAGS")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra)
    return env


def head_cli(command: str, head_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m tokenmill.operators.core.ray_head COMMAND --dir HEAD_DIR`` in a fresh interpreter (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "tokenmill.operators.core.ray_head", command, "--dir", str(head_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def naming(temp_dir: Path, gcs_port: int | None = None) -> list[psutil.Process]:
    """Live processes whose command line names the head's temp dir (or its GCS port)."""
    found = []
    gcs = re.compile(rf"[:=]{gcs_port}(\s|$)") if gcs_port else None
    me = os.getpid()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or []) + " "
        except psutil.Error:
            continue
        if proc.pid != me and alive(proc) and (str(temp_dir) in cmd or (gcs and gcs.search(cmd))):
            found.append(proc)
    return found


def listening(ports: set[int]) -> list[tuple[int, str, int]]:
    """(pid, ip, port) of every TCP listener on one of ``ports``."""
    return [(c.pid, c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports]


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


@pytest.mark.parametrize("auth", [{}, {"RAY_AUTH_MODE": "token"}], ids=["no-auth-mode", "token-without-token"])
def test_start_without_auth_prerequisites_fails_at_once_and_starts_nothing(auth, tmp_path):
    head_dir = Path(tempfile.mkdtemp(prefix="tmh-"))
    try:
        # HOME without ~/.ray/auth_token: no token anywhere
        env = head_env(HOME=str(tmp_path), **auth)
        t = time.monotonic()
        proc = head_cli("start", head_dir, env)
        took = time.monotonic() - t
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "RAY_AUTH_TOKEN=<secret>" in lines[0], proc.stderr
        assert took < 30, f"took {took:.0f} s"  # the check itself is instant; this is the interpreter's start-up
        assert not (head_dir / "head.json").exists()
        assert not naming(head_dir), "a failed start left processes running"
    finally:
        shutil.rmtree(head_dir, ignore_errors=True)


def test_prerequisite_check_names_what_to_export(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    short = Path("/tmp/tmh-x")
    with pytest.raises(ray_head.PrerequisiteError, match="export RAY_AUTH_MODE=token"):
        ray_head.check_prerequisites(short, {})
    with pytest.raises(ray_head.PrerequisiteError, match="not a mode"):
        ray_head.check_prerequisites(short, {"RAY_AUTH_MODE": "tokn"})
    with pytest.raises(ray_head.PrerequisiteError, match="export RAY_AUTH_TOKEN"):
        ray_head.check_prerequisites(short, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")})
    with pytest.raises(ray_head.PrerequisiteError, match="too long"):
        ray_head.check_prerequisites(Path("/tmp") / ("x" * 60), {"RAY_AUTH_MODE": "disabled"})
    ray_head.check_prerequisites(short, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "abc"})
    ray_head.check_prerequisites(short, {"RAY_AUTH_MODE": "disabled"})


@pytest.mark.slow
def test_failed_start_leaves_no_head_running(monkeypatch):
    """The head is up but the job agent never answers: start_head raises and stops every process it started."""
    head_dir = Path(tempfile.mkdtemp(prefix="tmh-"))
    seen: dict = {}

    def never_ready(address, env, deadline):
        seen.update(json.loads((head_dir / "head.json").read_text()))
        seen["procs"] = naming(head_dir, seen["gcs_port"])
        seen["procs"] += [psutil.Process(pid) for pid, _, _ in listening(set(seen["ports"]))]
        raise RuntimeError("the job agent does not answer")

    monkeypatch.setattr(ray_head, "_wait_for_job_agent", never_ready)
    try:
        with pytest.raises(RuntimeError, match="does not answer"):
            ray_head.start_head(head_dir, num_cpus=1, env=head_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16)))
        assert seen["procs"], "the head had not started: the test proves nothing"
        time.sleep(1)
        assert not [p.pid for p in seen["procs"] if alive(p)]
        assert not naming(head_dir, seen["gcs_port"])
        assert not [lst for lst in listening(set(seen["ports"])) if lst[0] in {p.pid for p in seen["procs"]}]
        assert not (head_dir / "head.json").exists()
    finally:
        if (head_dir / "head.json").exists():
            ray_head.stop_head(json.loads((head_dir / "head.json").read_text()))
        shutil.rmtree(head_dir, ignore_errors=True)


@pytest.mark.slow
def test_head_listens_on_loopback_only_and_stop_leaves_nothing():
    head_dir = Path(tempfile.mkdtemp(prefix="tmh-"))
    env = head_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    state = None
    try:
        state = ray_head.start_head(head_dir, num_cpus=1, env=env)
        assert state["address"].startswith("http://127.0.0.1:")
        procs = {p.pid: p for p in naming(head_dir, state["gcs_port"])}
        for p in list(procs.values()):
            for c in p.children(recursive=True):
                procs.setdefault(c.pid, c)
        ports = set(state["ports"])
        on_ports = listening(ports)
        for pid, _, _ in on_ports:
            procs.setdefault(pid, psutil.Process(pid))
        names = " ".join(" ".join(p.cmdline()) for p in procs.values() if alive(p))
        for what in ("gcs_server", "raylet", "dashboard", "ray.util.client.server"):
            assert what in names, f"no {what} among the head's processes"
        assert {port for _, _, port in on_ports} >= {state["gcs_port"], int(state["address"].rsplit(":", 1)[1])}
        # every socket any process of the head listens on: loopback only
        listeners = [(c.pid, c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.pid in procs]
        assert listeners
        exposed = [(pid, " ".join(procs[pid].cmdline())[:80], ip, port) for pid, ip, port in listeners if not is_loopback(ip)]
        assert not exposed, f"listening beyond loopback: {exposed}"

        proc = head_cli("stop", head_dir, env)
        assert proc.returncode == 0 and "stopped the head" in proc.stdout, proc.stdout + proc.stderr
        state = None
        time.sleep(1)
        left = [(p.pid, " ".join(p.cmdline())[:80]) for p in procs.values() if alive(p)]
        assert not left, f"left running after stop: {left}"
        # (a port another Ray takes once freed is not the head's: only the head's processes count)
        assert not [lst for lst in listening(ports) if lst[0] in procs], "a port of the head still listens after stop"
        assert not [p for p in naming(head_dir) if "client.server" in " ".join(p.cmdline())]
    finally:
        if state is not None:
            ray_head.stop_head(state)
        shutil.rmtree(head_dir, ignore_errors=True)
