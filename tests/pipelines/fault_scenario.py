"""Run build_corpus.py under an injected fault on a real multi-node Ray cluster (``ray.cluster_utils.Cluster``).

    python tests/pipelines/fault_scenario.py worker|node CONFIG.yaml

Starts a 3-node cluster on this machine (1 CPU each), runs the build with RAY_ADDRESS pointing at it, and while
partitions are being built either SIGKILLs one worker process while it builds a partition (``worker``) or removes a worker
node (``node``). Prints one JSON line: whether the fault was injected and the published build's summary.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def main(mode: str, config: str, out: str) -> None:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import psutil
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    os.environ["RAY_ADDRESS"] = cluster.address
    ray.init(address=cluster.address)
    cache = Path(out) / "cache" / "partitions"
    injected = {"done": False, "what": None}

    def inject() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not injected["done"]:
            built = len([p for p in cache.glob("*") if not p.name.startswith(".")]) if cache.is_dir() else 0
            if built >= 3:
                if mode == "node":
                    cluster.remove_node(nodes[0])
                    injected.update(done=True, what=f"removed node after {built} partitions")
                    return
                for proc in psutil.process_iter(["pid", "cmdline"]):
                    cmd = " ".join(proc.info["cmdline"] or [])
                    if "ray::_run_partition" in cmd:  # a Ray worker while it runs a partition task (a PartitionBuilder)
                        os.kill(proc.info["pid"], signal.SIGKILL)
                        injected.update(done=True, what=f"killed pid {proc.info['pid']} after {built} partitions")
                        return
            time.sleep(0.05)

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    from tokenmill.pipelines import build_corpus

    rc = build_corpus.main(["--config", config, "--quiet"])
    thread.join(timeout=1)
    current = os.readlink(Path(out) / "builds/CURRENT")
    summary = json.loads((Path(out) / "builds" / current / "build.json").read_text())
    print("RESULT " + json.dumps({"rc": rc, "injected": injected["done"], "what": injected["what"], "summary": summary}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
