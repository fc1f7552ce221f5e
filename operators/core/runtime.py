"""The Ray runtime every pipeline uses: the cluster when ``RAY_ADDRESS`` is set, else an embedded local Ray.

``ray job submit`` sets ``RAY_ADDRESS`` for the driver it starts, so the same script runs on a cluster and on a
laptop. The embedded Ray binds its dashboard to 127.0.0.1, turns usage stats off and uses a temp dir of its own
(never Ray's shared ``/tmp/ray`` default, which another user's or another test's session may own).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def init_ray(num_cpus: int | None = None, *, quiet: bool = False) -> dict:
    """Connect to the cluster named by ``RAY_ADDRESS`` or start an embedded local Ray.

    Args:
        num_cpus: CPUs for an embedded Ray (default: all of this machine's); ignored on a cluster.
        quiet: hide Ray Data progress bars (tests, non-interactive logs).

    Returns:
        A dict describing the runtime: ``mode`` ("cluster" or "embedded"), ``address`` and ``temp_dir``.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return {"mode": "existing", "address": ray.get_runtime_context().gcs_address, "temp_dir": None}
    address = os.environ.get("RAY_ADDRESS")
    # Workers must import our operators whether or not the project is pip-installed.
    pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True)
        info = {"mode": "cluster", "address": address, "temp_dir": None}
    else:
        temp_dir = tempfile.mkdtemp(prefix="tokenmill-ray-")
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            dashboard_host="127.0.0.1",
            _temp_dir=temp_dir,
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "RAY_USAGE_STATS_ENABLED": "0"}},
            log_to_driver=True,
        )
        info = {"mode": "embedded", "address": ray.get_runtime_context().gcs_address, "temp_dir": temp_dir}
        log.info("started an embedded Ray (temp dir %s)", temp_dir)
    _configure_data_context(quiet)
    return info


def _configure_data_context(quiet: bool) -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    # Blocks of ~64 MiB: big enough to avoid thousands of tiny blocks, small enough to stream.
    ctx.target_max_block_size = 64 * 1024 * 1024
    ctx.enable_progress_bars = not quiet and os.isatty(2)
    # Outputs in input order: the same inputs give byte-identical shards and ids in the same files.
    ctx.execution_options.preserve_order = True
    try:
        ctx.print_on_execution_start = not quiet
    except AttributeError:  # older Ray
        pass


def shutdown_ray(info: dict) -> None:
    """Stop an embedded Ray started by :func:`init_ray` and remove its temp dir; leave a cluster alone."""
    import ray

    if info.get("mode") in ("embedded", "cluster"):
        ray.shutdown()
    if info.get("temp_dir"):
        shutil.rmtree(info["temp_dir"], ignore_errors=True)


def cluster_cpus(cap: int | None = 8) -> int:
    """CPUs of the connected Ray cluster (at least 1, at most ``cap``): the default size of an actor pool."""
    import ray

    n = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return min(n, cap) if cap else n
