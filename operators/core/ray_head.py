"""A Ray head on this machine whose jobs run with this project's environment, and stopping only that head.

``make cluster`` / ``make cluster-stop`` (README, "Running on a Ray cluster") call this module::

    python -m tokenmill.operators.core.ray_head start --dir /tmp/tokenmill-head-UID [--num-cpus N]
    python -m tokenmill.operators.core.ray_head address --dir ...    # the dashboard URL `ray job submit --address` takes
    python -m tokenmill.operators.core.ray_head stop --dir ...

Why not plain ``ray start --head`` / ``ray stop``: a head started as ``.venv/bin/ray start`` runs job entrypoints
with whatever ``python`` is first on the PATH of the shell that started it (usually the system one, without
pyarrow), and ``ray stop`` stops every Ray of the machine, an embedded one of another run included. Here the head
starts with this interpreter's folder first on its PATH, every port chosen free (a second head, or an embedded Ray,
keeps its own), and ``stop`` ends only the processes that carry this head's temp dir or GCS port. ``start`` returns
once the job agent accepts submissions. Token auth (``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN``) passes through the
environment unchanged: export the same values where ``ray job submit`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE = "head.json"


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens on it, else a port the OS hands out."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port")


def start_head(temp_dir: Path, *, num_cpus: int | None = None, env: dict[str, str] | None = None,
               wait_s: float = 180) -> dict:
    """Start a head with its files under ``temp_dir``; returns (and writes to ``temp_dir/head.json``) its addresses."""
    temp_dir = Path(temp_dir).absolute()
    if (temp_dir / STATE).is_file():
        raise RuntimeError(f"a head is recorded in {temp_dir / STATE}; stop it first (make cluster-stop)")
    temp_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ if env is None else env)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # job entrypoints' `python` is this environment's
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = free_port(6379), free_port(8265)
    # Every port of its own: an embedded Ray holds the defaults (the dashboard agent's 52365 among them), and a head
    # whose job agent cannot bind answers "No available agent to submit job".
    ports = {f"--{name}": free_port() for name in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port",
        "ray-client-server-port", "node-manager-port", "object-manager-port")}
    cmd = [str(Path(bin_dir) / "ray"), "start", "--head", f"--port={gcs}", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dashboard}", f"--temp-dir={temp_dir}", "--include-dashboard=true", "--disable-usage-stats",
           *(f"{k}={v}" for k, v in ports.items()), *([f"--num-cpus={num_cpus}"] if num_cpus else [])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=wait_s)
    address = f"http://127.0.0.1:{dashboard}"
    state = {"address": address, "gcs_port": gcs, "temp_dir": str(temp_dir)}
    if proc.returncode != 0:
        stop_head(state)
        raise RuntimeError(f"ray start failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    (temp_dir / STATE).write_text(json.dumps(state) + "\n")
    _wait_for_job_agent(address, env, time.monotonic() + wait_s)
    return state


def _wait_for_job_agent(address: str, env: dict[str, str], deadline: float) -> None:
    ray = str(Path(sys.executable).parent / "ray")
    while True:
        proc = subprocess.run([ray, "job", "list", "--address", address], env=env, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the head at {address} does not accept jobs:\n{proc.stderr[-2000:]}")
        time.sleep(2)


def stop_head(state: dict) -> int:
    """Stop only this head's processes; returns how many were stopped."""
    import psutil

    temp_dir, gcs = state["temp_dir"], state["gcs_port"]
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}  # `make cluster-stop` and this process name the dir too
    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid in mine:
            continue
        cmd = " ".join(proc.info["cmdline"] or []) + " "
        if temp_dir + "/" in cmd or temp_dir + " " in cmd or f"127.0.0.1:{gcs} " in cmd:
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
    (Path(temp_dir) / STATE).unlink(missing_ok=True)
    return len(procs)


def load_state(temp_dir: Path) -> dict:
    path = Path(temp_dir).absolute() / STATE
    if not path.is_file():
        raise SystemExit(f"error: no head recorded in {path}; start one with `make cluster`")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "address", "stop"])
    parser.add_argument("--dir", required=True, type=Path, help="the head's temp dir (keep it short: Ray's sockets live there)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs the head offers (default: all)")
    args = parser.parse_args(argv)
    if args.action == "start":
        state = start_head(args.dir, num_cpus=args.num_cpus)
        print(f"Ray head up: submit jobs with --address {state['address']} (stop it with `make cluster-stop`)")
    elif args.action == "address":
        print(load_state(args.dir)["address"])
    else:
        n = stop_head(load_state(args.dir))
        print(f"stopped the head in {args.dir} ({n} processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
