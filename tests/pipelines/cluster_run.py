"""Run one pipeline on a real 3-node Ray cluster on this machine (``ray.cluster_utils.Cluster``, 1 CPU a node).

    python tests/pipelines/cluster_run.py pack_shards ARGS...

Prints ``RESULT {"rc": ...}`` as its last line. With ``NODE_TMPDIRS=BASE`` in the environment every node gets a
temp dir of its own (``BASE/node-0`` ...: ``TMPDIR`` of its raylet and workers), so no node's temporary files are
on a path the driver or another node uses.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path


def main(pipeline: str, args: list[str]) -> None:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    base = os.environ.get("NODE_TMPDIRS")

    def private(i: int) -> dict:
        if not base:
            return {}
        Path(base, f"node-{i}").mkdir(parents=True, exist_ok=True)
        return {"env_vars": {"TMPDIR": str(Path(base, f"node-{i}"))}}

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, **private(0)})
    for i in range(2):
        cluster.add_node(num_cpus=1, **private(i + 1))
    cluster.wait_for_nodes()
    os.environ["RAY_ADDRESS"] = cluster.address
    try:
        rc = importlib.import_module(f"tokenmill.pipelines.{pipeline}").main(args)
        nodes = len(cluster.list_all_nodes())
    finally:
        ray.shutdown()
        cluster.shutdown()
    print("RESULT " + json.dumps({"rc": rc, "nodes": nodes}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
