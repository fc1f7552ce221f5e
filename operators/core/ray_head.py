"""A Ray head on this machine whose jobs run with this project's environment, and stopping only that head.

``make cluster`` / ``make cluster-stop`` (README, "Running on a Ray cluster") call this module::

    python -m tokenmill.operators.core.ray_head start --dir /tmp/tokenmill-head-UID [--num-cpus N] [--host 127.0.0.1]
    python -m tokenmill.operators.core.ray_head address --dir ...    # the dashboard URL `ray job submit --address` takes
    python -m tokenmill.operators.core.ray_head stop --dir ...

Why not plain ``ray start --head`` / ``ray stop``: a head started as ``.venv/bin/ray start`` runs job entrypoints
with whatever ``python`` is first on the PATH of the shell that started it (usually the system one, without
pyarrow), and ``ray stop`` stops every Ray of the machine, an embedded one of another run included. Here the head
starts with this interpreter's folder first on its PATH, every port chosen free (a second head, or an embedded Ray,
keeps its own), and ``stop`` ends only the processes that carry this head's temp dir or GCS port. ``start`` returns
once the job agent accepts submissions. Token auth (``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN``) passes through the
environment unchanged: export the same values where ``ray job submit`` runs.

``start`` checks its prerequisites first (``RAY_AUTH_MODE`` exported, a token when it is ``token``, the ``ray`` CLI,
a short ``--dir``) and fails at once with one line saying what to export; a start that fails for any other reason
stops whatever it started. The head binds to ``--host`` (default 127.0.0.1, loopback only; ``--host 0.0.0.0`` or a
node IP for a real cluster). ``stop`` ends the processes that name this head's temp dir or GCS port and any process
still listening on one of its recorded ports (the Ray client server among them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE = "head.json"
LOOPBACK = "127.0.0.1"
# Ray's longest socket path is DIR/session_<date>_<time>_<us>_<pid>/sockets/plasma_store (up to 64 characters after
# DIR) and a Unix socket path holds at most 107.
MAX_DIR_LEN = 43


class PrerequisiteError(RuntimeError):
    """Something the head needs is missing; the message is one line saying what to export or do."""


def check_prerequisites(temp_dir: Path, env: dict[str, str]) -> None:
    """Raise PrerequisiteError, in well under a second, when ``start_head`` could not give a head that takes jobs.

    Without ``RAY_AUTH_MODE`` exported, this Ray turns token auth on by itself when it finds a token file, and the
    ``ray job`` CLI of the same shell then gets "Authentication required" (the head started, then waited minutes).
    """
    if not (Path(sys.executable).parent / "ray").is_file():
        raise PrerequisiteError(f"no `ray` next to {sys.executable}: run `make install` first")
    mode = env.get("RAY_AUTH_MODE", "").strip().lower()
    if mode not in ("token", "disabled"):
        raise PrerequisiteError(
            "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<secret> (the same in the shell that runs `ray job submit`), "
            "or RAY_AUTH_MODE=disabled" + (f" (RAY_AUTH_MODE={env['RAY_AUTH_MODE']!r} is not a mode)" if mode else "")
        )
    if mode == "token" and not env.get("RAY_AUTH_TOKEN", "").strip():
        token_path = Path(env.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
        if not token_path.is_file():
            raise PrerequisiteError("RAY_AUTH_MODE=token but no token: export RAY_AUTH_TOKEN=<secret> (the same in the shell that runs `ray job submit`)")
    if len(str(temp_dir)) > MAX_DIR_LEN:
        raise PrerequisiteError(f"--dir {temp_dir} is too long for Ray's sockets: give one of at most {MAX_DIR_LEN} characters (RAY_HEAD_DIR=/tmp/...)")


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


def start_head(temp_dir: Path, *, num_cpus: int | None = None, env: dict[str, str] | None = None, wait_s: float = 180, host: str = LOOPBACK) -> dict:
    """Start a head with its files under ``temp_dir``; returns (and writes to ``temp_dir/head.json``) its addresses.

    ``host``: the address the head listens on (loopback by default; ``0.0.0.0`` or this node's IP for a cluster).
    Raises PrerequisiteError before starting anything when something it needs is missing; on any later failure the
    processes it started are stopped before the error propagates.
    """
    temp_dir = Path(temp_dir).absolute()
    if (temp_dir / STATE).is_file():
        raise RuntimeError(f"a head is recorded in {temp_dir / STATE}; stop it first (make cluster-stop)")
    env = dict(os.environ if env is None else env)
    check_prerequisites(temp_dir, env)
    temp_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # job entrypoints' `python` is this environment's
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = free_port(6379), free_port(8265)
    # Every port of its own: an embedded Ray holds the defaults (the dashboard agent's 52365 among them), and a head
    # whose job agent cannot bind answers "No available agent to submit job".
    ports = {
        f"--{name}": free_port()
        for name in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "ray-client-server-port",
            "node-manager-port",
            "object-manager-port",
        )
    }
    wildcard = host in ("0.0.0.0", "::", "")
    if host == LOOPBACK:
        # `ray start` replaces a loopback --node-ip-address by the node's routable IP unless Ray thinks multi-node
        # clusters are off (its Windows/macOS default); off, the node's address and its agents stay on 127.0.0.1.
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    cmd = [
        str(Path(bin_dir) / "ray"),
        "start",
        "--head",
        f"--port={gcs}",
        f"--dashboard-host={host or '0.0.0.0'}",
        *([] if wildcard else [f"--node-ip-address={host}"]),
        f"--dashboard-port={dashboard}",
        f"--temp-dir={temp_dir}",
        "--include-dashboard=true",
        "--disable-usage-stats",
        *(f"{k}={v}" for k, v in ports.items()),
        *([f"--num-cpus={num_cpus}"] if num_cpus else []),
    ]
    address = f"http://{LOOPBACK if wildcard else host}:{dashboard}"
    state = {"address": address, "gcs_port": gcs, "temp_dir": str(temp_dir), "host": host, "ports": sorted([gcs, dashboard, *ports.values()])}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=wait_s)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        (temp_dir / STATE).write_text(json.dumps(state) + "\n")
        _wait_for_job_agent(address, env, time.monotonic() + wait_s)
    except BaseException:
        stop_head(state)  # no head left running after a failed start
        raise
    return state


def _wait_for_job_agent(address: str, env: dict[str, str], deadline: float) -> None:
    ray = str(Path(sys.executable).parent / "ray")
    while True:
        proc = subprocess.run([ray, "job", "list", "--address", address], env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the head at {address} does not accept jobs:\n{proc.stderr[-2000:]}")
        time.sleep(2)


def stop_head(state: dict) -> int:
    """Stop only this head's processes; returns how many were stopped."""
    procs = head_processes(state)
    # and whatever listens on one of the head's ports while it runs (a process whose command line names neither)
    late = [p for p in listeners(state) if p.pid not in {q.pid for q in procs}]
    _end(procs + late)
    (Path(state["temp_dir"]) / STATE).unlink(missing_ok=True)
    return len(procs) + len(late)


def head_processes(state: dict) -> list:
    """The live processes of this head: those naming its temp dir or its GCS port, and their children."""
    import psutil

    temp_dir, gcs = state["temp_dir"], state["gcs_port"]
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}  # `make cluster-stop` and this process name the dir too
    names_gcs = re.compile(rf"[:=]{gcs}(\s|$)")
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid in mine:
            continue
        try:
            cmd = " ".join(proc.info["cmdline"] or []) + " "
            if temp_dir + "/" in cmd or temp_dir + " " in cmd or temp_dir + "," in cmd or names_gcs.search(cmd):
                for p in [proc, *proc.children(recursive=True)]:
                    found.setdefault(p.pid, p)
        except psutil.Error:
            continue
    return [p for pid, p in found.items() if pid not in mine]


def listeners(state: dict) -> list:
    """The live processes listening on a TCP port recorded for this head."""
    import psutil

    ports = set(state.get("ports") or [state["gcs_port"]])
    pids = set()
    try:
        conns = psutil.net_connections("tcp")
    except psutil.Error:
        return []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports and c.pid:
            pids.add(c.pid)
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    out = []
    for pid in pids - mine:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid))
    return out


def _end(procs: list) -> None:
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


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
    parser.add_argument(
        "--host", default=LOOPBACK, help="address the head listens on (default 127.0.0.1, loopback only; 0.0.0.0 or this node's IP for a cluster)"
    )
    args = parser.parse_args(argv)
    if args.action == "start":
        try:
            state = start_head(args.dir, num_cpus=args.num_cpus, host=args.host)
        except PrerequisiteError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"Ray head up: submit jobs with --address {state['address']} (stop it with `make cluster-stop`)")
    elif args.action == "address":
        print(load_state(args.dir)["address"])
    else:
        n = stop_head(load_state(args.dir))
        print(f"stopped the head in {args.dir} ({n} processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
