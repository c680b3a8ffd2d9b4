"""The docker-compose stack's parts, checked by the real tools (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.compose import BASE, REPLICAS
from tests.support.compose import load as load_compose
from tests.support.dashboards import DASHBOARDS, VARIABLES, fill, load, panel_exprs
from tests.support.helpers import ROOT

COMPOSE = load_compose(BASE)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def test_compose_runs_the_service_prometheus_alertmanager_and_grafana() -> None:
    """The stack has the four services, pinned images, and every mounted file exists in the repository."""
    assert {"tenant-exporter", "prometheus", "alertmanager", "grafana"} == set(COMPOSE["services"])
    for name, service in COMPOSE["services"].items():
        if "image" in service:
            assert re.search(r":v?\d+\.\d+\.\d+$", service["image"]), (name, service["image"])
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    assert (ROOT / "Dockerfile").exists()


def test_the_stack_keeps_metrics_off_the_published_port() -> None:
    """/metrics (every tenant's usage) is on METRICS_PORT, which the stack exposes to Prometheus only;
    Prometheus scrapes that port, and no published port maps to it."""
    service = COMPOSE["services"]["tenant-exporter"]
    metrics_port = service["environment"]["METRICS_PORT"]
    scrape = yaml.safe_load((ROOT / "prometheus.yml").read_text())["scrape_configs"]
    [job] = [job for job in scrape if job["job_name"] == "tenant-exporter"]
    assert ([metrics_port], [int(metrics_port)], []) == (
        service["expose"], [sd["port"] for sd in job["dns_sd_configs"]],
        [p for p in service["ports"] if p.rsplit(":", 1)[-1] == metrics_port])


def test_one_instance_publishes_8000_and_the_replicas_file_scales_on_postgres() -> None:
    """By default the service is on :8000. With deploy/compose/replicas.yml and a port range, as
    docs/operations.md says, every replica gets a port of its own and they share one PostgreSQL and
    one Redis that the stack starts (healthy first), which Prometheus's DNS discovery finds by service name."""
    assert ["8000:8000"] == COMPOSE["services"]["tenant-exporter"]["ports"]
    stack = load_compose(BASE, REPLICAS, env={"TENANT_EXPORTER_PORTS": "8000-8002"})
    service = stack["services"]["tenant-exporter"]
    published, target = service["ports"][0].rsplit(":", 1)
    first, last = (int(p) for p in published.split("-"))
    assert (["8000-8002:8000"], "8000", 3) == (service["ports"], target, last - first + 1)
    database = urlsplit(service["environment"]["DATABASE_URL"])
    assert ("postgresql", "postgres") == (database.scheme, database.hostname)
    postgres = stack["services"][database.hostname]
    assert re.search(r":\d+\.\d+$", postgres["image"]), postgres["image"]
    assert {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}} \
        == service["depends_on"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres  # only on the stack's network
    redis = stack["services"][urlsplit(service["environment"]["REDIS_URL"]).hostname]
    assert (["CMD", "redis-cli", "ping"], False) == (redis["healthcheck"]["test"], "ports" in redis)
    assert {"postgres-data", "tenant-exporter-data"} <= set(stack["volumes"])
    assert service["environment"]["ALERTMANAGER_URL"] == COMPOSE["services"]["tenant-exporter"]["environment"][
        "ALERTMANAGER_URL"]  # the base file's settings stay
    scrape = yaml.safe_load((ROOT / "prometheus.yml").read_text())["scrape_configs"]
    assert any(["tenant-exporter"] == sd["names"] for job in scrape for sd in job.get("dns_sd_configs", []))
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "TENANT_EXPORTER_PORTS=8000-8002 docker compose -f docker-compose.yml -f deploy/compose/replicas.yml" \
        in operations


def test_prometheus_config_passes_promtool_with_the_generated_rules(tmp_path: Path) -> None:
    """prometheus.yml passes `promtool check config`, with rule_files pointing at the repository's rules/."""
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    config["rule_files"] = [str(ROOT / "rules" / "*.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = run("promtool", "check", "config", str(local))
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    mounts = COMPOSE["services"]["prometheus"]["volumes"]
    assert {"./prometheus.yml:/etc/prometheus/prometheus.yml:ro", "./rules:/etc/prometheus/rules:ro"} <= set(mounts)


def test_alertmanager_config_passes_amtool() -> None:
    """deploy/alertmanager/alertmanager.yml passes `amtool check-config` and routes by severity."""
    result = run("amtool", "check-config", str(ROOT / "deploy" / "alertmanager" / "alertmanager.yml"))
    assert 0 == result.returncode, result.stdout + result.stderr
    routes = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())["route"]["routes"]
    assert all(any("severity" in m for m in r["matchers"]) for r in routes)


ALL = {"job": "tenant-exporter", "instance": ".*", "tenant": ".*", "service": ".*"}


def test_dashboards_are_importable_into_any_grafana() -> None:
    """Each dashboard declares its Prometheus as an import input, has the datasource, job, instance, tenant and
    service variables (each query variable asking the chosen data source), and links to the other dashboard."""
    assert DASHBOARDS
    uids = {load(path)["uid"] for path in DASHBOARDS}
    for path in DASHBOARDS:
        board = load(path)
        variables = board["templating"]["list"]
        assert ([{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}],
                list(VARIABLES), ("datasource", "prometheus")) == (
            [{k: i[k] for k in ("name", "type", "pluginId")} for i in board["__inputs"]],
            [v["name"] for v in variables], (variables[0]["type"], variables[0]["query"]))
        assert [{"type": "prometheus", "uid": "${datasource}"}] * (len(variables) - 1) == [
            v["datasource"] for v in variables[1:]]
        assert (uids - {board["uid"]}) == {link["url"].rsplit("/", 1)[-1] for link in board["links"]}, path.name
        assert all(link["includeVars"] and link["keepTime"] for link in board["links"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=[f"{p.name}: every panel and query uses ${{datasource}}"
                                                  for p in DASHBOARDS])
def test_every_panel_uses_the_datasource_variable(path: Path) -> None:
    """No panel or query names a data source of its own: imported with a uid other than `prometheus`, every
    panel follows the chosen one, and nothing refers to the provisioned uid."""
    board = load(path)
    refs = [panel["datasource"] for panel in board["panels"]] + [
        target["datasource"] for panel in board["panels"] for target in panel["targets"]]
    assert board["panels"] and all(panel["targets"] for panel in board["panels"])
    assert [{"type": "prometheus", "uid": "${datasource}"}] * len(refs) == refs
    imported = path.read_text().replace("${DS_PROMETHEUS}", "grafana-cloud-prom-7f3a")
    assert ('"uid": "prometheus"' not in imported, "grafana-cloud-prom-7f3a") == (
        True, load_text(imported)["templating"]["list"][0]["current"]["value"])


def load_text(text: str) -> dict:
    return dict(json.loads(text))


@pytest.mark.parametrize(("board", "title", "expr"), panel_exprs(), ids=[f"{b}: {t}" for b, t, _ in panel_exprs()])
def test_every_dashboard_expression_parses(board: str, title: str, expr: str, tmp_path: Path) -> None:
    """Each panel's PromQL, with the variables filled in, parses (promtool checks it as a recording rule's)."""
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": "dashboard:check:expr", "expr": fill(expr, ALL)}]}]}
    path = tmp_path / "expr.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run("promtool", "check", "rules", str(path))
    assert 0 == result.returncode, result.stdout + result.stderr


def test_the_quota_panel_reads_usage_over_limit() -> None:
    """The quota panel draws the recorded usage / limit ratio (rules/operations.yml), not a derived family."""
    [expr] = [e for b, t, e in panel_exprs() if t.startswith("Quota use")]
    recorded = {r.get("record") for g in yaml.safe_load((ROOT / "rules" / "operations.yml").read_text())["groups"]
                for r in g["rules"]}
    assert ("tenant:tenant_exporter_quota_usage:ratio" in expr, True) == (
        True, "tenant:tenant_exporter_quota_usage:ratio" in recorded)
