"""The Ray runtime every pipeline uses: the cluster when ``RAY_ADDRESS`` is set, else an embedded local Ray.

``ray job submit`` sets ``RAY_ADDRESS`` for the driver it starts, so the same script runs on a cluster and on a
laptop. The embedded Ray binds its dashboard to 127.0.0.1, turns usage stats off and uses a temp dir of its own
(never Ray's shared ``/tmp/ray`` default, which another user's or another test's session may own).

Pipelines use :func:`ray_runtime`, which removes the embedded Ray's temp dir on every way out (success, an
exception, a ``ConfigError`` turned into ``SystemExit``, Ctrl-C, SIGTERM: exit status 143), and stops every Ray
process it started. The temp dir is private: owner-only (0700), with Ray's own temp dir inside it (Ray makes that
one 0777 at start and at every worker start). The temp dir is named
``tokenmill-ray-<pid>-<random>`` and holds an owner marker; a process killed outright (SIGKILL, OOM) cannot clean
up, so each embedded start first removes such dirs whose owning process is gone (and only those).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

TEMP_PREFIX = "tokenmill-ray-"
"""Name prefix of an embedded Ray's temp dir: ``tokenmill-ray-<owner pid>-<mkdtemp suffix>``."""
RAY_SUBDIR = "r"
"""Ray's own temp dir inside ours (``_temp_dir``): Ray chmods it 0777 at start and at every worker start, so the
privacy comes from ours around it (0700), which Ray never touches."""
_MAX_SOCKET_PATH = 107  # AF_UNIX path limit Ray enforces for its sockets (under <ray temp>/session_*/sockets/)
TEMP_MARKER = ".tokenmill-ray-owner"
"""File inside the temp dir naming its owner (pid, process start time, host); only marked dirs are ever removed."""
MARKER_FORMAT = "tokenmill ray temp dir v1"
_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-[A-Za-z0-9_]+$")


# What --quiet sets in Ray's workers too: no progress bars, libraries at error level (see operators.core.cli).
QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENMILL_QUIET": "1"}

# Ray Data's per-execution INFO lines ("Starting execution of Dataset ...") are off by default, in workers too (a
# value the user set wins). Not RAY_BACKEND_LOG_LEVEL: setting it makes every Ray process log that it was set.
RAY_QUIET_ENV = {"RAY_DATA_LOG_LEVEL": "WARNING"}

# Notices Ray logs on every run that tell a tokenmill user nothing: (logger, message prefix).
_RAY_NOTICES = (
    ("ray._private.authentication.authentication_token_setup", "Token authentication is enabled for this Ray cluster"),
    ("ray.data._internal.progress", "Progress bars disabled"),
    ("ray.data._internal.progress", "Progress bars for operators disabled"),
)


class _DropNotice(logging.Filter):
    """Drops the log records of one logger whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_ray_notices() -> None:
    """Hide Ray's per-run notices (:data:`_RAY_NOTICES`) and set :data:`RAY_QUIET_ENV` where not set. Idempotent."""
    for key, value in RAY_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    by_logger: dict[str, tuple[str, ...]] = {}
    for name, prefix in _RAY_NOTICES:
        by_logger[name] = (*by_logger.get(name, ()), prefix)
    for name, prefixes in by_logger.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotice) for f in logger.filters):
            logger.addFilter(_DropNotice(prefixes))


# The standard AWS environment that configures s3:// inputs and outputs (fsspec/s3fs, botocore): workers get it too.
AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)


def aws_env() -> dict[str, str]:
    """The ``AWS_*`` variables of :data:`AWS_ENV` that are set here, to forward to Ray workers."""
    return {k: os.environ[k] for k in AWS_ENV if os.environ.get(k)}


def init_ray(num_cpus: int | None = None, *, quiet: bool = False) -> dict:
    """Connect to the cluster named by ``RAY_ADDRESS`` or start an embedded local Ray.

    Prefer :func:`ray_runtime`, which always calls :func:`shutdown_ray`. A caller of ``init_ray`` alone still gets
    the embedded Ray stopped and its temp dir removed when the interpreter exits (an ``atexit`` hook).

    Args:
        num_cpus: CPUs for an embedded Ray (default: all of this machine's); ignored on a cluster.
        quiet: hide Ray Data progress bars (tests, non-interactive logs).

    Returns:
        A dict describing the runtime: ``mode`` ("cluster", "embedded" or "existing"), ``address`` and ``temp_dir``.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = quiet or os.environ.get("TOKENMILL_QUIET") == "1"
    quiet_ray_notices()
    # Ray's INFO lines ("Started a local Ray instance.") are banners here; its warnings stay, --quiet: errors only.
    ray_level = logging.ERROR if quiet else logging.WARNING
    import ray

    if ray.is_initialized():
        return {"mode": "existing", "address": ray.get_runtime_context().gcs_address, "temp_dir": None}
    address = os.environ.get("RAY_ADDRESS")
    # Workers must import our operators whether or not the project is pip-installed.
    pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        # A driver started by `ray job submit` has its job's runtime_env already (pass AWS_* there with
        # --runtime-env-json, or configure the nodes); a driver that connects by itself forwards its AWS_* here.
        submitted = bool(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"))
        runtime_env = None if submitted or not aws_env() else {"env_vars": aws_env()}
        handler = _sigterm_handler_now()
        ray.init(address=address, log_to_driver=True, logging_level=ray_level, runtime_env=runtime_env)
        _restore_sigterm(handler)  # ray.init's own handler exits 15 without the run's cleanup
        info = {"mode": "cluster", "address": address, "temp_dir": None}
    else:
        remove_stale_temp_dirs()
        temp_dir = make_temp_dir()
        handler = _sigterm_handler_now()
        # The workers' environment is the raylet's, which is this process's as ray.init starts it: set there for the
        # length of ray.init, not as a runtime_env. A job-level runtime_env makes Ray start fresh workers for it
        # instead of the ones it prestarts (~1.5 s more before the first task runs on 2 cores), and Ray writes a
        # runtime_env in plaintext into its logs (so AWS_* are only ever inherited this way too).
        workers_env = {"PYTHONPATH": pythonpath, "RAY_USAGE_STATS_ENABLED": "0", **{k: os.environ[k] for k in RAY_QUIET_ENV}, **(QUIET_ENV if quiet else {})}
        try:
            with _environ(workers_env):
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    dashboard_host="127.0.0.1",
                    _temp_dir=ray_temp_dir(temp_dir),
                    log_to_driver=True,
                    logging_level=ray_level,
                )
        except BaseException:
            with contextlib.suppress(Exception):
                ray.shutdown()
            _remove_tree(temp_dir)
            raise
        # Ray makes its own temp dir world-writable (0777) as it starts, and again as each worker starts: it lives
        # inside ours, which stays owner-only (0700), so no other user reaches this run's logs or sockets.
        os.chmod(temp_dir, 0o700)
        # Ray's node replaced the SIGTERM handler with one that kills its processes and exits 1, leaving the temp
        # dir and the ledger to whatever runs next: ours raises SystemExit(143) so every ``finally`` (ray_runtime's
        # shutdown_ray, the run's ledger) runs, and the atexit hook stops Ray for a bare init_ray().
        _restore_sigterm(handler)
        info = {"mode": "embedded", "address": ray.get_runtime_context().gcs_address, "temp_dir": temp_dir}
        log.debug("started an embedded Ray (temp dir %s)", temp_dir)
    _track(info)
    global _QUIET
    _QUIET = quiet  # how ray_data() configures Ray Data, in the jobs that use it
    if quiet:
        logging.getLogger("ray").setLevel(logging.ERROR)
    return info


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside the block, restored after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_OPEN: list[dict] = []  # runtimes started by init_ray and not shut down yet
_HOOKED = False


def _track(info: dict) -> None:
    global _HOOKED
    _OPEN.append(info)
    if not _HOOKED:
        # Registered after `import ray` (whose own atexit shutdown is registered at import), so it runs first.
        atexit.register(_shutdown_open)
        _HOOKED = True


def _shutdown_open() -> None:
    for info in list(_OPEN):
        shutdown_ray(info)


_QUIET = False


def ray_data() -> Any:
    """``ray.data``, configured for this run (block size, order, progress bars and log level as ``init_ray`` was
    asked). The jobs that stream with Ray Data (romanize, dynamic tokenization, embedding serving, DNA training) get it
    here; the others never import it, which saves ~0.5 s of every run's start."""
    import ray.data

    _configure_data_context(_QUIET or os.environ.get("TOKENMILL_QUIET") == "1")
    return ray.data


def _configure_data_context(quiet: bool) -> None:
    import ray.data

    # ray.data configured its loggers when imported (maybe before RAY_DATA_LOG_LEVEL was set): set them now.
    logging.getLogger("ray.data").setLevel(logging.ERROR if quiet else os.environ.get("RAY_DATA_LOG_LEVEL", "WARNING").upper())
    ctx = ray.data.DataContext.get_current()
    # Blocks of ~64 MiB: big enough to avoid thousands of tiny blocks, small enough to stream.
    ctx.target_max_block_size = 64 * 1024 * 1024
    ctx.enable_progress_bars = not quiet and os.isatty(2)
    # Outputs in input order. Byte-identical outputs do not rely on this alone: pipelines sort by document key
    # before anything whose bytes depend on order (shards), which holds however blocks arrive.
    ctx.execution_options.preserve_order = True
    with contextlib.suppress(AttributeError):  # older Ray
        ctx.print_on_execution_start = not quiet


def shutdown_ray(info: dict) -> None:
    """Stop an embedded Ray started by :func:`init_ray` and remove its temp dir; leave a cluster running.

    Safe to call more than once (the ``atexit`` hook calls it again); an "existing" runtime is left alone.
    """
    if info.get("closed"):
        return
    info["closed"] = True
    _OPEN[:] = [i for i in _OPEN if i is not info]
    if info.get("mode") in ("embedded", "cluster"):
        import ray

        try:
            ray.shutdown()
        except Exception:
            log.warning("ray.shutdown() failed", exc_info=True)
    if info.get("temp_dir"):
        _remove_tree(info["temp_dir"])


@contextlib.contextmanager
def ray_runtime(num_cpus: int | None = None, *, quiet: bool = False) -> Iterator[dict]:
    """:func:`init_ray` … :func:`shutdown_ray` around a block, whatever way the block ends.

    SIGTERM (``ray job stop``, ``timeout``, systemd, Kubernetes) is turned into ``SystemExit(143)`` inside the
    block (when called from the main thread and no other handler is installed), so it cleans up too.

    Yields:
        The runtime dict of :func:`init_ray`.
    """
    with _sigterm_as_exit():
        info = init_ray(num_cpus, quiet=quiet)
        try:
            yield info
        except SystemExit as exc:
            # A SIGTERM that arrives while the driver waits in ray.get comes out of Ray's C++ core as SystemExit(1)
            # (its signal check replaces the handler's exception): it still ends the run with 143.
            if _TERMINATING and exc.code != 128 + signal.SIGTERM:
                raise SystemExit(128 + signal.SIGTERM) from None
            raise
        finally:
            shutdown_ray(info)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


_TERMINATING = False


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM → ``SystemExit(143)``: the stack unwinds, so Ray is shut down and its temp dir removed by the
    ``finally`` of :func:`ray_runtime` (or the atexit hook). A second SIGTERM during that cleanup is ignored."""
    global _TERMINATING
    if _TERMINATING:
        return
    _TERMINATING = True
    raise SystemExit(128 + signum)


def _sigterm_handler_now() -> object:
    """The SIGTERM handler before ``ray.init`` (None off the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


def _restore_sigterm(before: object) -> None:
    """After ``ray.init`` started a local node: put back the handler that was there (ours from
    :func:`_sigterm_as_exit`, or the application's), or ours where there was none (SIG_DFL)."""
    if threading.current_thread() is not threading.main_thread() or before is None:
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm if before in (signal.SIG_DFL, None) else before)  # type: ignore[arg-type]


def make_temp_dir(root: str | Path | None = None) -> str:
    """Create ``ROOT/tokenmill-ray-<pid>-<random>`` (ROOT: the system temp dir), owner-only (0700), with its owner
    marker; Ray's files go in its :data:`RAY_SUBDIR`."""
    temp_dir = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=root)  # mode 0700
    marker = {"format": MARKER_FORMAT, "pid": os.getpid(), "started": _process_start(os.getpid()), "host": socket.gethostname()}
    (Path(temp_dir) / TEMP_MARKER).write_text(json.dumps(marker) + "\n")
    return temp_dir


def ray_temp_dir(temp_dir: str) -> str:
    """Where Ray keeps its files: :data:`RAY_SUBDIR` inside ``temp_dir`` (private), unless the sockets' paths under
    it would exceed the AF_UNIX limit (a long TMPDIR); then ``temp_dir`` itself, which Ray's workers make 0777."""
    nested = os.path.join(temp_dir, RAY_SUBDIR)
    socket = f"{nested}/session_2026-01-01_00-00-00_000000_{os.getpid()}/sockets/plasma_store.1"
    if len(socket) <= _MAX_SOCKET_PATH:
        return nested
    log.info(
        "TMPDIR %s is too long for a private folder around Ray's files (its socket paths would exceed %d "
        "bytes): Ray's temp dir is %s itself, which its workers make world-readable; set a shorter TMPDIR",
        os.path.dirname(temp_dir),
        _MAX_SOCKET_PATH,
        temp_dir,
    )
    return temp_dir


def remove_stale_temp_dirs(root: str | Path | None = None) -> list[str]:
    """Remove embedded-Ray temp dirs under ``root`` (default: the system temp dir) whose owner has exited.

    A dir is removed only when its name is ``tokenmill-ray-<pid>-...``, it holds a marker written by
    :func:`make_temp_dir` for that pid on this host, and that process is gone (no such pid, or the pid now belongs
    to a process started at another time). Ray processes of this user still naming such a dir on their command
    line (a dashboard or runtime-env agent that outlived a SIGKILLed driver) are stopped first: that Ray has no
    driver any more. Anything else is left alone. Returns the removed paths.
    """
    root = Path(root or tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    candidates = []
    for path in entries:
        m = _TEMP_NAME.match(path.name)
        if not m or path.is_symlink() or not path.is_dir():
            continue
        try:
            marker = json.loads((path / TEMP_MARKER).read_text())
        except (OSError, ValueError):
            continue  # not (yet) marked: a dir being created right now, or not ours
        pid = int(m.group(1))
        if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT or marker.get("pid") != pid or marker.get("host") != socket.gethostname():
            continue
        if _alive(pid, marker.get("started")):
            continue
        candidates.append(path)
    if not candidates:
        return []
    in_use = _stop_orphans(candidates)
    removed = []
    for path in candidates:
        if path in in_use:
            continue
        log.info("removing the temp dir of an embedded Ray whose process is gone: %s", path)
        _remove_tree(str(path))
        removed.append(str(path))
    return removed


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(pid: int, started: float | None) -> bool:
    import psutil

    if not psutil.pid_exists(pid):
        return False
    now = _process_start(pid)
    if now is None:
        return True  # exists but unreadable (another user's process): assume it is the owner
    return started is None or abs(now - started) < 1.0


def _stop_orphans(paths: list[Path], grace: float = 5.0) -> set[Path]:
    """Stop this user's processes whose command line names one of ``paths`` (temp dirs of drivers that are gone):
    SIGTERM, then SIGKILL after ``grace`` seconds. Returns the paths some process still names (left alone)."""
    import psutil

    uid = os.getuid()
    orphans: dict[psutil.Process, Path] = {}
    for proc in psutil.process_iter(["cmdline", "uids"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        uids = proc.info.get("uids")
        for p in paths:
            if str(p) in cmd and uids is not None and uids.real == uid and proc.pid != os.getpid():
                orphans[proc] = p
    if orphans:
        log.warning(
            "stopping %d Ray process(es) left by a killed run (%s)",
            len(orphans),
            ", ".join(sorted({f"{o.info.get('cmdline', ['?'])[0]} pid {o.pid}" for o in orphans})[:5]),
        )
        for proc in orphans:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(list(orphans), timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _, alive = psutil.wait_procs(alive, timeout=grace)
        return {orphans[proc] for proc in alive}
    return set()


def _remove_tree(path: str) -> None:
    # Ray's daemons may still be flushing logs into the dir for a moment after shutdown.
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)
    log.warning("could not remove the embedded Ray's temp dir %s", path)


def actor_pool(max_actors: int):  # -> ray.data.ActorPoolStrategy (ray imported lazily)
    """Ray Data ``compute=`` of a stateful operator (a class loading a tokenizer or model once): 1 to
    ``max_actors`` actors, the pool growing with the work (``concurrency=`` is deprecated since Ray 2.51)."""
    import ray.data

    return ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, max_actors))


def ray_workers(workers: int) -> int:
    """The one meaning of every job's ``workers`` key: Ray workers (tasks/actors) at once, 0 = one per CPU of the
    connected cluster."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = one per CPU of the cluster), got {workers}")
    return workers or cluster_cpus()


def cluster_cpus(cap: int | None = None) -> int:
    """CPUs of the connected Ray cluster (at least 1, at most ``cap`` when given)."""
    import ray

    n = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return min(n, cap) if cap else n


def run_partitions(actor: type, items: list[dict], kwargs: dict, workers: int, cpu_share_arg: str | None = None, progress: str = "write") -> list[dict]:
    """Run the partition writer class ``actor`` over the partitions ``items`` (each with an ``index`` 0..n-1), up to
    ``workers`` at once (no more than the items or the cluster's CPUs), and return their parts in index order (a
    running Ray is needed).

    ``actor(**kwargs)`` (plus ``cpu_share_arg``: its share of the CPUs, when named) is called on a one-row table of
    an item and returns columns ``index`` and ``part`` (JSON). Each partition is one plain Ray task that reserves that
    share of CPUs, so at most ``workers`` run at once; a worker process builds the writer once per run and keeps it
    for the next partitions it gets (the tokenizer loads once per process, as in an actor pool). Plain tasks instead
    of a Ray Data actor pool: they land on the worker processes Ray prestarts (an actor is a new process that imports
    everything first), and the driver only waits on futures, where Ray Data's executor loop spends ~10 % of a core of
    a 2-core machine scheduling. A task whose worker dies is retried (Ray's default); the same partition writes the
    same names and bytes on any worker. ``progress`` labels the progress shown as partitions complete.

    Raises:
        CountMismatch: a partition came back missing or twice (nothing of the run may be committed then).
    """
    import uuid

    import ray

    from tokenmill.operators.core.progress import Progress
    from tokenmill.operators.ledger.reconcile import CountMismatch

    if not items:
        return []
    cpus = cluster_cpus()
    workers = max(1, min(workers, len(items), cpus))
    share = max(1, cpus // workers)
    # ... but never more than one node has, or a task could never be scheduled on a cluster of small nodes
    per_node = max([int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [1])
    num_cpus = max(1, min(share, per_node))
    if cpu_share_arg:
        kwargs = {**kwargs, cpu_share_arg: num_cpus}
    run = ray.put((uuid.uuid4().hex, actor, kwargs))
    task = ray.remote(_run_partition).options(num_cpus=num_cpus)
    refs = [task.remote(run, item) for item in items]
    try:
        done: list[dict] = []
        with Progress(len(refs), progress, unit="partition") as bar:
            pending = refs
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for part, records in ray.get(ready):
                    for name, level, message in records:  # the worker's log lines, here for certain (see _run_partition)
                        logging.getLogger(name).log(level, "%s", message)
                    done.append(json.loads(part))
                bar.update(len(ready))
        parts = sorted(done, key=lambda p: p["index"])
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    if [p["index"] for p in parts] != list(range(len(items))):  # a lost or doubled partition: never commit it
        raise CountMismatch(f"partitions written {[p['index'] for p in parts]} are not 0..{len(items) - 1}")
    return parts


_BUILT: dict[str, object] = {}
"""The partition writer this worker process built for the run it last served (run token → writer)."""


class _Records(logging.Handler):
    """Collects (logger name, level, message) of the records it handles."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _run_partition(run: tuple[str, type, dict], item: dict) -> tuple[str, list[tuple[str, int, str]]]:
    """One partition (a Ray task): the run's writer, built in this process on its first partition, on ``item``.

    Returns the part (JSON) and what tokenmill's loggers said meanwhile: the driver logs those lines itself, as the
    partition's result arrives. Left to Ray's log forwarding (asynchronous), a worker's warning, such as a file that
    gets no language, could be lost when the run ends soon after it under load."""
    import pyarrow as pa

    token, actor, kwargs = run
    logger, handler = logging.getLogger("tokenmill"), _Records()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    done = False
    try:
        if token not in _BUILT:
            _BUILT.clear()  # a writer of an earlier run in this long-lived worker is never used again
            _BUILT[token] = actor(**kwargs)
        out = _BUILT[token](pa.Table.from_pylist([item]))  # type: ignore[operator]
        done = True
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        if not done:  # the partition failed: what it said goes out the usual way, with Ray's log forwarding
            for name, level, message in handler.records:
                logging.getLogger(name).log(level, "%s", message)
    return out["part"][0].as_py(), handler.records
