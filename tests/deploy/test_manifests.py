"""deploy/: the manifests parse and carry what KubeRay, Kubernetes, the Ray cluster launcher and systemd need,
and every pod they start is locked down (Ray token auth from a Secret, non-root, no privilege escalation, no
capabilities, read-only root filesystem with emptyDirs for what must be written)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30"
SECRET = ("tokenmill-ray-auth", "auth_token")
MANIFESTS = sorted([*(DEPLOY / "kuberay").glob("*.yaml"), *(DEPLOY / "kubernetes").glob("*.yaml")])
RAYJOBS = [p for p in MANIFESTS if yaml.safe_load(p.read_text()).get("kind") == "RayJob"]


def _pod_templates(doc: dict) -> list[tuple[str, dict, bool]]:
    """Every pod template of a manifest: (where, pod spec, runs Ray) for RayJobs, RayClusters and CronJobs."""
    kind = doc.get("kind")
    if kind == "RayJob":
        cluster = doc["spec"]["rayClusterSpec"]
        pods = [("submitterPodTemplate", doc["spec"]["submitterPodTemplate"]["spec"], True)]
    elif kind == "RayCluster":
        cluster, pods = doc["spec"], []
    elif kind == "CronJob":
        return [("jobTemplate", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"], False)]
    elif kind in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
        return [("template", doc["spec"]["template"]["spec"], False)]
    else:
        return []
    pods.append(("headGroupSpec", cluster["headGroupSpec"]["template"]["spec"], True))
    pods += [(f"workerGroupSpecs[{g['groupName']}]", g["template"]["spec"], True) for g in cluster["workerGroupSpecs"]]
    return pods


ALL_PODS = [pytest.param(p, where, spec, ray, id=f"{p.name}:{where}")
            for p in MANIFESTS for where, spec, ray in _pod_templates(yaml.safe_load(p.read_text()))]


def test_every_manifest_has_pods_or_is_the_secret():
    kinds = {p.name: yaml.safe_load(p.read_text())["kind"] for p in MANIFESTS}
    assert {"RayJob", "CronJob", "Secret"} <= set(kinds.values())
    assert len(RAYJOBS) >= 2 and all(_pod_templates(yaml.safe_load(p.read_text())) for p in RAYJOBS)


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
    for params in [head["rayStartParams"], *(g["rayStartParams"] for g in cluster["workerGroupSpecs"])]:
        assert all(isinstance(v, str) for v in params.values())  # KubeRay wants strings
        assert params.get("temp-dir", "/tmp/ray").startswith("/tmp/")  # Ray's temp dir on the /tmp emptyDir
    (container,) = head["template"]["spec"]["containers"]
    assert container["image"] and container["resources"]["limits"]["cpu"]
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert group["template"]["spec"]["containers"][0]["image"]
    # K8sJobMode: KubeRay runs `ray job submit` in the submitter pod, which must carry the token as well
    assert spec["submissionMode"] == "K8sJobMode" and spec["submitterPodTemplate"]["spec"]["restartPolicy"] == "Never"
    assert "command" not in spec["submitterPodTemplate"]["spec"]["containers"][0]  # KubeRay supplies it


@pytest.mark.parametrize("path,where,spec,ray", ALL_PODS)
def test_pod_template_validates_against_the_kubernetes_schema(path, where, spec, ray):
    import kubernetes_validate

    doc = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": {"spec": spec}}
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("path,where,spec,ray", ALL_PODS)
def test_pod_template_runs_locked_down(path, where, spec, ray):
    pod_sc = spec.get("securityContext", {})
    assert pod_sc.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot"
    assert isinstance(pod_sc.get("runAsUser"), int) and pod_sc["runAsUser"] > 0, f"{where}: runAsUser (non-zero uid)"
    assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccompProfile"
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        sc = c.get("securityContext", {})
        what = f"{where}: container {c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, f"{what}: allowPrivilegeEscalation: false"
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{what}: capabilities.drop [ALL]"
        assert not sc.get("capabilities", {}).get("add"), f"{what}: adds capabilities"
        assert sc.get("privileged") in (None, False) and sc.get("runAsUser", 1) != 0, f"{what}: privileged / root"
        assert sc.get("readOnlyRootFilesystem") is True, f"{what}: readOnlyRootFilesystem"
        assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], f"{what}: resource limits"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert set(mounts.values()) <= set(volumes), f"{what}: mounts a volume the pod does not declare"
        # a read-only root filesystem needs somewhere to write: /tmp (Ray's temp dir, HOME) is an emptyDir
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{what}: /tmp must be an emptyDir"
        env = {e["name"]: e for e in c.get("env", [])}
        if "HOME" in env:
            assert env["HOME"]["value"].startswith("/tmp"), f"{what}: HOME on the read-only root filesystem"
        if ray:
            assert env["RAY_AUTH_MODE"]["value"] == "token", f"{what}: RAY_AUTH_MODE=token"
            ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == SECRET, f"{what}: RAY_AUTH_TOKEN from the Secret {SECRET}"
            assert "value" not in env["RAY_AUTH_TOKEN"], f"{what}: a literal token in a manifest"
    if ray and where != "submitterPodTemplate":
        assert spec.get("automountServiceAccountToken") is False, f"{where}: Ray pods need no Kubernetes API token"
        shm = {m["mountPath"]: m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}["/dev/shm"]
        assert volumes[shm]["emptyDir"].get("medium") == "Memory", f"{where}: /dev/shm for the object store"


def test_no_manifest_holds_a_real_token():
    for path in [*MANIFESTS, DEPLOY / "ray-cluster.yaml"]:
        text = path.read_text()
        assert not re.search(r"\b[0-9a-f]{32,}\b", text), f"{path.name}: something that looks like a real token"
        for doc in yaml.safe_load_all(text):
            for where, spec, _ in _pod_templates(doc or {}):
                for c in spec["containers"]:
                    assert all("value" not in e for e in c.get("env", []) if e["name"] == "RAY_AUTH_TOKEN"), where


def test_secret_example():
    import kubernetes_validate

    path = DEPLOY / "kubernetes/secret-ray-auth.example.yaml"
    doc = yaml.safe_load(path.read_text())
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert (doc["kind"], doc["metadata"]["name"], doc["type"]) == ("Secret", SECRET[0], "Opaque")
    assert set(doc.get("stringData", {})) == {SECRET[1]} and "data" not in doc
    assert doc["stringData"][SECRET[1]] == "REPLACE-ME"  # a placeholder, never a token
    text = path.read_text()
    assert f"kubectl create secret generic {SECRET[0]} --from-literal={SECRET[1]}=" in text  # documented


def test_cronjob_validates_against_the_kubernetes_schema():
    import kubernetes_validate

    doc = yaml.safe_load((DEPLOY / "kubernetes/cronjob-rebuild.yaml").read_text())
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    fields = doc["spec"]["schedule"].split()
    assert len(fields) == 5 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields)
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"


def test_cluster_launcher_config():
    cfg = yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())
    assert cfg["cluster_name"] and cfg["provider"]["type"]
    assert cfg["head_node_type"] in cfg["available_node_types"]
    for node in cfg["available_node_types"].values():
        assert {"resources", "node_config", "min_workers", "max_workers"} <= set(node)
    assert cfg["auth"]["ssh_user"] != "root"
    # every node starts Ray with token auth and the same token, shipped as a file (never in this config)
    token_path = "~/.ray/auth_token"
    assert token_path in cfg["file_mounts"]
    for cmd in [c for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"] if "ray start" in c]:
        assert "RAY_AUTH_MODE=token" in cmd and f"RAY_AUTH_TOKEN_PATH={token_path}" in cmd, cmd


def test_local_schedule_examples():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "local/tokenmill-rebuild.service")
    service = unit["Service"]
    assert "pipelines/build_corpus.py" in service["ExecStart"]
    assert service["User"] == "tokenmill" and service["Group"] == "tokenmill"
    hardening = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "PrivateTmp": "true", "ProtectHome": "true",
                 "RestrictSUIDSGID": "true", "CapabilityBoundingSet": ""}
    assert {k: service.get(k) for k in hardening} == hardening
    assert service["ReadWritePaths"].split()  # the output, the only place it writes besides its own state/logs
    assert not any(p in ("/", "/opt/tokenmill", "/etc") for p in service["ReadWritePaths"].split())
    timer = configparser.ConfigParser()
    timer.read(DEPLOY / "local/tokenmill-rebuild.timer")
    assert timer["Timer"]["OnCalendar"]
    text = (DEPLOY / "local/crontab.example").read_text()
    line = next(l for l in text.splitlines() if l and not l.startswith("#"))
    assert len(line.split()[:5]) == 5 and "build_corpus.py" in line
    assert "crontab -u tokenmill" in text


def test_example_corpus_config_loads(shared_data):
    from tokenmill.operators.build import load_build_config

    cfg = load_build_config(DEPLOY / "corpus.example.yaml")
    assert [s.name for s in cfg.sources] == ["udhr", "code"] and Path(cfg.tokenizer.path).is_file()
