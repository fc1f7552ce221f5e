"""deploy/: the manifests parse and carry what KubeRay, Kubernetes, the Ray cluster launcher and systemd need,
and every pod they start is locked down (Ray token auth from a Secret, non-root, no privilege escalation, no
capabilities, read-only root filesystem with emptyDirs for what must be written); a NetworkPolicy admits to each
Ray head only its own cluster, and the CronJob's service account may replace its RayJob and nothing else."""

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
DOCS = [(p, d) for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]  # a file may hold several objects
RAYJOBS = [p for p, d in DOCS if d.get("kind") == "RayJob"]


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


ALL_PODS = [pytest.param(p, where, spec, ray, id=f"{p.name}:{where}") for p, d in DOCS for where, spec, ray in _pod_templates(d)]


def test_every_manifest_has_pods_or_is_the_secret():
    kinds = {d["kind"] for _, d in DOCS}
    assert {"RayJob", "CronJob", "Secret", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    assert len(RAYJOBS) >= 2 and all(_pod_templates(yaml.safe_load(p.read_text())) for p in RAYJOBS)


@pytest.mark.parametrize("name,pipeline", [("rayjob-dna-bpe.yaml", "pipelines/dna_bpe.py"), ("rayjob-build-corpus.yaml", "pipelines/build_corpus.py")])
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
    hardening = {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "PrivateTmp": "true",
        "ProtectHome": "true",
        "RestrictSUIDSGID": "true",
        "CapabilityBoundingSet": "",
    }
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
    from tokenmill.operators.corpus_build import load_build_config

    cfg = load_build_config(DEPLOY / "corpus.example.yaml")
    assert [s.name for s in cfg.sources] == ["udhr", "code"] and Path(cfg.tokenizer.path).is_file()


@pytest.mark.parametrize(
    "path,doc", [pytest.param(p, d, id=f"{p.name}:{d['kind']}/{d['metadata']['name']}") for p, d in DOCS if not d["apiVersion"].startswith("ray.io/")]
)
def test_every_kubernetes_object_validates_against_the_schema(path, doc):
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects pods with ``labels``."""
    ops = {
        "In": lambda k, v: labels.get(k) in v,
        "NotIn": lambda k, v: labels.get(k) not in v,
        "Exists": lambda k, v: k in labels,
        "DoesNotExist": lambda k, v: k not in labels,
    }
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        ops[e["operator"]](e["key"], e.get("values")) for e in selector.get("matchExpressions", [])
    )


def _rayjob_pods() -> dict[str, dict[str, dict]]:
    """Pod labels of every RayJob: {rayjob name: {"submitter"/"head"/"worker": labels}}."""
    pods = {}
    for p in RAYJOBS:
        spec = yaml.safe_load(p.read_text())["spec"]
        cluster = spec["rayClusterSpec"]
        (worker,) = cluster["workerGroupSpecs"]
        pods[yaml.safe_load(p.read_text())["metadata"]["name"]] = {
            "submitter": spec["submitterPodTemplate"].get("metadata", {}).get("labels", {}),
            "head": cluster["headGroupSpec"]["template"].get("metadata", {}).get("labels", {}),
            "worker": worker["template"].get("metadata", {}).get("labels", {}),
        }
    return pods


def _admitted_ports(policy: dict, labels: dict, same_namespace: bool = True) -> set | None:
    """Ports on which ``policy`` admits a pod with ``labels`` (None: every port; empty: refused)."""
    ports: set = set()
    for rule in policy["spec"].get("ingress", []):
        peers = rule.get("from")
        admitted = peers is None or any(
            ("podSelector" in peer and _selects(peer["podSelector"], labels)) and (same_namespace if "namespaceSelector" not in peer else True)
            for peer in peers
        )
        if admitted:
            if not rule.get("ports"):
                return None
            ports |= {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
    return ports


def test_network_policy_admits_to_each_ray_head_only_its_own_cluster():
    import kubernetes_validate

    policies = [d for _, d in DOCS if d["kind"] == "NetworkPolicy"]
    pods = _rayjob_pods()
    assert len(pods) >= 2
    for name, own in pods.items():
        for role, labels in own.items():  # the labels are valid in a pod template
            tmpl = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "labels": labels}, "template": {"metadata": {"labels": labels}}}
            kubernetes_validate.validate(tmpl, K8S_VERSION, strict=True)
            assert labels.get("app") == "tokenmill", f"{name} {role}: labels {labels}"
        (policy,) = [d for d in policies if _selects(d["spec"]["podSelector"], own["head"])]  # exactly one selects the head
        assert not _selects(policy["spec"]["podSelector"], own["worker"]), f"{name}: the head's policy selects workers"
        assert not _selects(policy["spec"]["podSelector"], own["submitter"])
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for other, theirs in pods.items():  # the heads of other RayJobs are other policies' business
            if other != name:
                assert not _selects(policy["spec"]["podSelector"], theirs["head"]), f"{policy['metadata']['name']} selects {other}"
        # its own Ray pods reach the GCS, the dashboard and the client server (and the raylet's random ports)
        assert _admitted_ports(policy, own["worker"]) is None and _admitted_ports(policy, own["head"]) is None
        assert _admitted_ports(policy, own["submitter"]) == {("TCP", 8265)}  # ray job submit: the dashboard only
        # nothing of another RayJob, nothing unlabeled, no pod of another namespace but the KubeRay operator
        for other, theirs in pods.items():
            if other != name:
                assert all(_admitted_ports(policy, labels) == set() for labels in theirs.values()), f"{name} admits {other}"
        assert _admitted_ports(policy, {}) == set() and _admitted_ports(policy, {"app": "tokenmill"}) == set()
        assert _admitted_ports(policy, own["worker"], same_namespace=False) == set()
        operator = {"app.kubernetes.io/name": "kuberay-operator"}
        assert _admitted_ports(policy, operator, same_namespace=False) == {("TCP", 8265)}  # it polls the job status


def test_the_rolebinding_binds_the_cronjobs_service_account_to_what_it_runs():
    cron = yaml.safe_load((DEPLOY / "kubernetes/cronjob-rebuild.yaml").read_text())
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    account = pod["serviceAccountName"]
    assert pod["automountServiceAccountToken"] is True  # kubectl talks to the API server
    objects = {(d["kind"], d["metadata"]["name"]): d for p, d in DOCS if p.name == "rbac-rebuild.yaml"}
    assert objects[("ServiceAccount", account)]["automountServiceAccountToken"] is False  # only that pod mounts it
    bindings = [d for d in objects.values() if d["kind"] == "RoleBinding" and {"kind": "ServiceAccount", "name": account} in d["subjects"]]
    assert len(bindings) == 1 and bindings[0]["subjects"] == [{"kind": "ServiceAccount", "name": account}]
    ref = bindings[0]["roleRef"]
    assert (ref["apiGroup"], ref["kind"]) == ("rbac.authorization.k8s.io", "Role")  # namespaced, not a ClusterRole
    role = objects[("Role", ref["name"])]
    # What the CronJob runs: kubectl delete rayjob NAME, then kubectl apply -f the RayJob manifest of that name
    script = " ".join(pod["containers"][0]["args"])
    deleted = re.search(r"kubectl delete rayjob (\S+)", script).group(1)
    applied = yaml.safe_load((DEPLOY / "kuberay" / Path(re.search(r"kubectl apply -f (\S+)", script).group(1)).name).read_text())
    assert applied["metadata"]["name"] == deleted == "tokenmill-build-corpus"
    granted = set()
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["ray.io"] and rule["resources"] == ["rayjobs"], rule  # nothing but RayJobs
        assert "*" not in rule["verbs"]
        if rule["verbs"] != ["create"]:  # create cannot be limited by name; everything else is limited to that one
            assert rule["resourceNames"] == [deleted], rule
        granted |= set(rule["verbs"])
    assert granted == {"get", "list", "watch", "create", "patch", "delete"}  # kubectl delete (+ its wait) and apply
