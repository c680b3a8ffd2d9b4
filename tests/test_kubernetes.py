"""deploy/kubernetes, checked offline as a cluster would take it: `kubectl kustomize` renders each overlay,
every core object validates against the Kubernetes schemas (kubernetes-validate, strict), the ServiceMonitor
and the PrometheusRule against the Prometheus Operator's CRD schemas, and the pod the Deployment describes
runs here (its env, config and ports) and answers its probes and the ServiceMonitor's scrape."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.helpers import ROOT
from tests.support.helpers import run_cli as cli
from tests.support.service_process import ServiceProcess, free_port

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["sqlite", "postgres"]
KUBERNETES_VERSION = "1.30.0"
CRD_GROUP = "monitoring.coreos.com/v1"


@pytest.fixture(autouse=True)
def _needs_kubectl(kubectl: str) -> None:
    """Every test here reads what `kubectl kustomize` renders."""


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of an overlay, as the list of objects it prints."""
    result = subprocess.run([shutil.which("kubectl") or "kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert 0 == result.returncode, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(overlay: str, kind: str) -> dict[str, Any]:
    [found] = [o for o in rendered(overlay) if o["kind"] == kind]
    return found


def container(overlay: str) -> dict[str, Any]:
    [only] = one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def env(overlay: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(overlay)["env"]}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=["the SQLite overlay renders", "the PostgreSQL overlay renders"])
def test_each_overlay_renders_every_object_in_one_namespace(overlay: str) -> None:
    """Each overlay renders the namespace, config, workload, Service, PDB, NetworkPolicy and both CRD objects,
    every namespaced one in `tenant-exporter`."""
    objects = rendered(overlay)
    kinds = sorted(o["kind"] for o in objects)
    expected = ["ConfigMap", "Deployment", "Namespace", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule",
                "Service", "ServiceMonitor"] + (["PersistentVolumeClaim"] if overlay == "sqlite" else [])
    assert (sorted(expected), {"tenant-exporter"}) == (
        kinds, {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"})


@pytest.mark.parametrize("overlay", OVERLAYS, ids=["SQLite overlay objects", "PostgreSQL overlay objects"])
def test_core_objects_validate_against_the_kubernetes_schemas(overlay: str) -> None:
    """Every core object passes kubernetes-validate in strict mode (no unknown field) for Kubernetes 1.30."""
    errors = []
    for obj in rendered(overlay):
        if obj["apiVersion"] == CRD_GROUP:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
    assert [] == errors


def validate_crds(objects: list[dict[str, Any]], tools: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(ROOT / "tests" / "node" / "validate-crds.mjs")], input=json.dumps(objects),
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"NODE_TOOLS_DIR": str(tools), "PATH": "/usr/bin:/bin:/usr/local/bin"})


@pytest.mark.parametrize("overlay", OVERLAYS, ids=["SQLite overlay", "PostgreSQL overlay"])
def test_the_servicemonitor_and_prometheusrule_validate_against_the_operators_crds(overlay: str,
                                                                                  node_tools: Path) -> None:
    """The ServiceMonitor and the PrometheusRule pass the Prometheus Operator's CRD schemas (pinned package)."""
    crds = [o for o in rendered(overlay) if o["apiVersion"] == CRD_GROUP]
    result = validate_crds(crds, node_tools)
    assert (0, "", ["PrometheusRule", "ServiceMonitor"]) == (result.returncode, result.stdout,
                                                            sorted(o["kind"] for o in crds))


@pytest.mark.parametrize(("change", "error"), [
    (lambda m: m["spec"]["endpoints"][0].update(port=9464), "port must be string"),
    (lambda m: m["spec"]["endpoints"][0].update(interval="15 seconds"), "interval must match pattern"),
    (lambda m: m["spec"]["endpoints"][0]["authorization"]["credentials"].pop("key"), "must have required property"),
], ids=["a numeric port name is refused", "an interval Prometheus cannot parse is refused",
        "a token Secret without its key is refused"])
def test_the_crd_check_refuses_a_broken_servicemonitor(node_tools: Path, change: Any, error: str) -> None:
    """The CRD validation is real: a ServiceMonitor the operator would reject fails it."""
    monitor = json.loads(json.dumps(one("postgres", "ServiceMonitor")))
    change(monitor)
    result = validate_crds([monitor], node_tools)
    assert (1, True) == (result.returncode, error in result.stdout), result.stdout


def test_the_prometheusrule_holds_exactly_the_groups_of_rules() -> None:
    """The PrometheusRule's groups are rules/*.yml's, the same names, intervals and rules, and it is not stale."""
    in_files = [g for path in sorted((ROOT / "rules").glob("*.yml"))
                for g in yaml.safe_load(path.read_text())["groups"]]
    in_crd = one("sqlite", "PrometheusRule")["spec"]["groups"]
    key = lambda g: g["name"]  # noqa: E731
    assert sorted(in_files, key=key) == sorted(in_crd, key=key)
    result = cli("rules", "check", "--format", "prometheusrule")
    assert (0, "") == (result.returncode, result.stderr)


def test_the_prometheusrule_goes_stale_with_monitoring_yml(tmp_path: Path) -> None:
    """After a threshold changes, `rules check --format prometheusrule` fails until it is generated again."""
    from tests.support.helpers import make_config_dir

    config, output = make_config_dir(tmp_path / "config"), tmp_path / "prometheusrule.yaml"
    args = ("--config-dir", str(config), "--format", "prometheusrule", "--output", str(output))
    assert 0 == cli("rules", "generate", *args).returncode
    text = (config / "monitoring.yml").read_text().replace("threshold: 80%\n    for: 5m", "threshold: 75%\n    for: 5m")
    (config / "monitoring.yml").write_text(text)
    stale = cli("rules", "check", *args)
    assert (1, f"{output}: differs from config/monitoring.yml; run `tenant-exporter rules generate --format "
               "prometheusrule`\n") == (stale.returncode, stale.stderr)
    assert 0 == cli("rules", "generate", *args).returncode
    assert 0 == cli("rules", "check", *args).returncode


def test_the_configmap_is_the_config_directory() -> None:
    """The mounted ConfigMap holds config/*.yml byte for byte, at the CONFIG_DIR the pod reads."""
    data = one("sqlite", "ConfigMap")["data"]
    mount = next(m for m in container("sqlite")["volumeMounts"] if m["name"] == "config")
    assert ({p.name: p.read_text() for p in (ROOT / "config").glob("*.yml")}, mount["mountPath"]) == (
        data, env("sqlite")["CONFIG_DIR"]["value"])


@pytest.mark.parametrize("overlay", OVERLAYS, ids=["SQLite overlay", "PostgreSQL overlay"])
def test_the_pod_is_probed_limited_and_unprivileged(overlay: str) -> None:
    """Readiness on /-/ready, liveness on /-/healthy, requests and a memory limit, non-root as the image's user,
    a read-only root filesystem, no capabilities, and a PodDisruptionBudget over the same pods."""
    deployment, c = one(overlay, "Deployment"), container(overlay)
    pod = deployment["spec"]["template"]["spec"]
    dockerfile_uid = 10001  # useradd --uid in the Dockerfile
    assert "--uid 10001" in (ROOT / "Dockerfile").read_text()
    assert (("/-/ready", "http"), ("/-/healthy", "http")) == (
        (c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["port"]),
        (c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["port"]))
    assert ({"cpu", "memory"}, {"memory"}) == (set(c["resources"]["requests"]), set(c["resources"]["limits"]))
    assert (True, dockerfile_uid, True, False, ["ALL"]) == (
        pod["securityContext"]["runAsNonRoot"], pod["securityContext"]["runAsUser"],
        c["securityContext"]["readOnlyRootFilesystem"], c["securityContext"]["allowPrivilegeEscalation"],
        c["securityContext"]["capabilities"]["drop"])
    assert one(overlay, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"][
        "matchLabels"]


@pytest.mark.parametrize(("overlay", "database_required"), [("sqlite", False), ("postgres", True)],
                         ids=["SQLite: DATABASE_URL optional", "PostgreSQL: DATABASE_URL required"])
def test_secrets_come_from_the_secret(overlay: str, database_required: bool) -> None:
    """DATABASE_URL, METRICS_TOKEN and REDIS_URL come from the Secret `tenant-exporter`; the token is required."""
    refs = {name: env(overlay)[name]["valueFrom"]["secretKeyRef"] for name in ("DATABASE_URL", "METRICS_TOKEN",
                                                                                 "REDIS_URL")}
    assert {name: ("tenant-exporter", name, optional) for name, optional in (
        ("DATABASE_URL", not database_required), ("METRICS_TOKEN", False), ("REDIS_URL", True))} == {
        name: (ref["name"], ref["key"], ref.get("optional", False)) for name, ref in refs.items()}


@pytest.mark.parametrize(("overlay", "replicas", "strategy", "storage"), [
    ("sqlite", 1, "Recreate", {"persistentVolumeClaim": {"claimName": "tenant-exporter-data"}}),
    ("postgres", 3, "RollingUpdate", {"emptyDir": {}}),
], ids=["one replica writes SQLite on a claim, never two at once", "three replicas share PostgreSQL"])
def test_overlays_scale_as_their_store_allows(overlay: str, replicas: int, strategy: str, storage: dict) -> None:
    """SQLite: one replica, Recreate, the data volume on the overlay's claim; PostgreSQL: several replicas."""
    deployment = one(overlay, "Deployment")
    data = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert (replicas, strategy, storage) == (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"],
                                             {k: v for k, v in data.items() if k != "name"})
    claims = [o["metadata"]["name"] for o in rendered(overlay) if o["kind"] == "PersistentVolumeClaim"]
    assert claims == ([storage["persistentVolumeClaim"]["claimName"]] if "persistentVolumeClaim" in storage else [])


def test_the_servicemonitor_scrapes_the_metrics_port_with_the_pods_token() -> None:
    """The ServiceMonitor selects the Service, scrapes its `metrics` port (METRICS_PORT in the pod, which the
    NetworkPolicy opens to the monitoring namespace only) with the Secret key the pod reads METRICS_TOKEN from."""
    monitor, service = one("postgres", "ServiceMonitor"), one("postgres", "Service")
    [endpoint] = monitor["spec"]["endpoints"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    container_port = next(p["containerPort"] for p in container("postgres")["ports"] if p["name"] == port["targetPort"])
    token = env("postgres")["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (monitor["spec"]["selector"]["matchLabels"], str(container_port), "/metrics") == (
        service["metadata"]["labels"], env("postgres")["METRICS_PORT"]["value"], endpoint["path"])
    assert ({"name": token["name"], "key": token["key"]}, "Bearer") == (
        endpoint["authorization"]["credentials"], endpoint["authorization"]["type"])
    rules = one("postgres", "NetworkPolicy")["spec"]["ingress"]
    metrics_rule = next(r for r in rules if any(p["port"] == "metrics" for p in r["ports"]))
    assert ([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            [[{"port": "http"}]]) == (metrics_rule["from"], [r["ports"] for r in rules if "from" not in r])
    assert service["spec"]["type"] == "ClusterIP"


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_pod_as_described_runs_and_answers_its_probes_and_the_scrape(tmp_path: Path) -> None:
    """The service started with the Deployment's env (config from the rendered ConfigMap, the Secret's token)
    answers readiness and liveness on `http`, hides /metrics there, and serves it on `metrics` to the
    ServiceMonitor's bearer token only."""
    config = tmp_path / "etc"
    config.mkdir()
    for name, text in one("sqlite", "ConfigMap")["data"].items():
        (config / name).write_text(text)
    secret = {"METRICS_TOKEN": "s3cret-token-from-the-secret"}
    values = {name: e.get("value") or secret.get(name) for name, e in env("sqlite").items()
              if "value" in e or name in secret}
    ports = {p["name"]: free_port() for p in container("sqlite")["ports"]}
    values |= {"CONFIG_DIR": str(config), "METRICS_PORT": str(ports["metrics"]), "INSTANCE_ID": "tenant-exporter-0",
               "DATABASE_URL": f"sqlite:///{tmp_path}/data/tenant-exporter.db"}
    (tmp_path / "data").mkdir()
    service = ServiceProcess(tmp_path, values, port=ports["http"]).start()
    try:
        probes = container("sqlite")
        base, metrics = f"http://127.0.0.1:{ports['http']}", f"http://127.0.0.1:{ports['metrics']}"
        assert (200, 200) == (get(base + probes["readinessProbe"]["httpGet"]["path"])[0],
                              get(base + probes["livenessProbe"]["httpGet"]["path"])[0])
        assert (404, 401) == (get(f"{base}/metrics")[0], get(f"{metrics}/metrics")[0])
        status, body = get(f"{metrics}/metrics", secret["METRICS_TOKEN"])
        assert (200, True) == (status, "tenant_exporter_build_info{" in body)
    finally:
        service.stop()
