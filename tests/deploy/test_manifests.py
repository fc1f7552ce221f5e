"""deploy/: the manifests parse and carry what KubeRay, Kubernetes, the Ray cluster launcher and systemd need."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize("name,pipeline", [("rayjob-dna-bpe.yaml", "pipelines/dna_bpe.py"),
                                           ("rayjob-build-corpus.yaml", "pipelines/build_corpus.py")])
def test_rayjob(name, pipeline):
    job = yaml.safe_load((DEPLOY / "kuberay" / name).read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["entrypoint"].startswith(f"python {pipeline}") and (ROOT / pipeline).is_file()
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)  # runtimeEnvYAML is a YAML string
    cluster = spec["rayClusterSpec"]
    head = cluster["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())  # KubeRay wants strings
    (container,) = head["template"]["spec"]["containers"]
    assert container["image"] and container["resources"]["limits"]["cpu"]
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert group["template"]["spec"]["containers"][0]["image"]
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts <= {v["name"] for v in head["template"]["spec"]["volumes"]}


def test_cronjob_validates_against_the_kubernetes_schema():
    import kubernetes_validate

    doc = yaml.safe_load((DEPLOY / "kubernetes/cronjob-rebuild.yaml").read_text())
    kubernetes_validate.validate(doc, "1.30", strict=True)
    fields = doc["spec"]["schedule"].split()
    assert len(fields) == 5 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields)
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"


def test_cluster_launcher_config():
    cfg = yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())
    assert cfg["cluster_name"] and cfg["provider"]["type"]
    assert cfg["head_node_type"] in cfg["available_node_types"]
    for node in cfg["available_node_types"].values():
        assert {"resources", "node_config", "min_workers", "max_workers"} <= set(node)


def test_local_schedule_examples():
    unit = configparser.ConfigParser(strict=False)
    unit.read(DEPLOY / "local/tokenmill-rebuild.service")
    assert "pipelines/build_corpus.py" in unit["Service"]["ExecStart"]
    timer = configparser.ConfigParser()
    timer.read(DEPLOY / "local/tokenmill-rebuild.timer")
    assert timer["Timer"]["OnCalendar"]
    line = next(l for l in (DEPLOY / "local/crontab.example").read_text().splitlines() if l and not l.startswith("#"))
    assert len(line.split()[:5]) == 5 and "build_corpus.py" in line


def test_example_corpus_config_loads(shared_data):
    from operators.build import load_build_config

    cfg = load_build_config(DEPLOY / "corpus.example.yaml")
    assert [s.name for s in cfg.sources] == ["udhr", "code"] and Path(cfg.tokenizer["path"]).is_file()
