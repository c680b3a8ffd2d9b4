"""The docker-compose stack's parts, run here for real: the service, Prometheus with the project's own
prometheus.yml and Alertmanager with the project's own config (targets rewritten to loopback, intervals
to one second, rule groups evaluated every second), and Chromium on the status page.

An outage of a probed service must be seen end to end: the probe fails, /api/monitoring/sla counts a
breach, the burn-rate alert fires in Prometheus and reaches Alertmanager, an acknowledgement becomes a
silence, the status page shows the outage, and every Grafana panel's expression returns data.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml

from tests.support.alertmanager_process import AlertmanagerProcess
from tests.support.chromium import Chromium
from tests.support.dashboards import DASHBOARDS, fill, load, query_variables
from tests.support.helpers import ROOT, eventually, make_config_dir
from tests.support.prometheus_process import PrometheusProcess
from tests.support.service_process import ServiceProcess, free_port, keep_sending
from tests.support.sla_helpers import live_monitoring
from tests.support.tcp_endpoint import TcpEndpoint

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run

ARTIFACTS = ROOT / "tests" / "artifacts"


RULES = """rules:
  - name: ErrorRateHigh
    signal: error_rate
    operator: ">"
    threshold: 5%
    for: 1s
    severity: error
    summary: High error rate
    description: More than 5% of requests failed.
"""
SHIPPED = (ROOT / "config" / "monitoring.yml").read_text()
OPERATIONAL = SHIPPED[SHIPPED.index("operational_alerts:"):]  # the quota panel reads their recording rule
ALL = {"job": "tenant-exporter", "instance": ".*", "tenant": ".*", "service": ".*"}  # Grafana's "All"


def prometheus_config(service_port: int, prometheus_port: int, alertmanager_port: int, rules: Path) -> dict[str, Any]:
    """The project's prometheus.yml, pointed at loopback and sped up."""
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str(rules / "*.yml")]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    targets = {"tenant-exporter": service_port, "prometheus": prometheus_port, "alertmanager": alertmanager_port}
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
    return dict(config)


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """The project's alertmanager.yml, its receivers posting to the service under test, without waiting."""
    config = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook
    return dict(config)


def fast_rules(rules: Path) -> None:
    """Every generated rule group evaluated each second (the 30-day group is every 5 minutes otherwise)."""
    for path in rules.glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def variable_values(prometheus: PrometheusProcess, board: dict[str, Any]) -> dict[str, list[str]]:
    """What each of the dashboard's query variables offers, asked of Prometheus as Grafana's label_values does."""
    out: dict[str, list[str]] = {}
    for name, (selector, label) in query_variables(board).items():
        series = prometheus.api("/api/v1/series?" + urlencode({"match[]": fill(selector, {"job": "tenant-exporter"})}))
        out[name] = sorted({s[label] for s in series["data"] if label in s})
    return out


async def test_an_outage_is_seen_by_the_whole_stack(tmp_path: Path, cache: TcpEndpoint) -> None:
    """Probe fails -> SLA breach -> burn-rate alert in Prometheus -> Alertmanager; an acknowledgement becomes a
    silence; the status page shows the outage; every recording rule (the operational ones included) produces
    series; every dashboard variable offers values and every panel returns data, with All selected and with one
    value of each variable."""
    config = make_config_dir(tmp_path / "config",
                             **{"monitoring.yml": live_monitoring(cache.port, RULES + OPERATIONAL)})
    service_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    alertmanager = AlertmanagerProcess(tmp_path, "", port=alertmanager_port,
                                       config=alertmanager_config(f"http://127.0.0.1:{service_port}"
                                                                  "/-/alertmanager/webhook"))
    prometheus = PrometheusProcess(tmp_path, [], port=prometheus_port, config=prometheus_config(
        service_port, prometheus_port, alertmanager_port, tmp_path / "rules"))
    service = ServiceProcess(tmp_path, {
        "DATABASE_URL": f"sqlite:///{tmp_path}/stack.db", "CONFIG_DIR": str(config), "ENABLE_TEST_ROUTES": "true",
        "PROMETHEUS_URL": prometheus.url, "ALERTMANAGER_URL": alertmanager.url, "SLA_FLUSH_INTERVAL": "1",
        "ALERTMANAGER_SYNC_INTERVAL": "1", "USAGE_FLUSH_INTERVAL": "1"}, port=service_port)
    generated = service.cli("rules", "generate", "--rules-dir", str(tmp_path / "rules"))
    assert 0 == generated.returncode, generated.stderr
    fast_rules(tmp_path / "rules")
    admin = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "admin").stdout.strip()
    auth = {"Authorization": f"Bearer {admin}"}
    operator = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "operator").stdout.strip()
    oncall = {"Authorization": f"Bearer {operator}"}  # platform alerts are acknowledged by operators
    browser = Chromium(tmp_path)
    try:
        assert 0 == alertmanager.check_config().returncode
        alertmanager.start()
        service.start()
        prometheus.start()
        browser.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            async def get(url: str, **kw: Any) -> Any:
                async with http.get(url, **kw) as r:
                    return await r.json()

            traffic = [asyncio.create_task(keep_sending(http, f"{service.url}/api/tenant/config", 0.05, auth)),
                       asyncio.create_task(keep_sending(http, f"{service.url}/-/test/status/503", 0.1))]
            await asyncio.sleep(6)  # healthy probes first, so the outage is a change
            await cache.down()

            async def breach() -> Any:
                sla = await get(f"{service.url}/api/monitoring/sla", headers=auth)
                return sla["services"]["cache"]["breaches_this_month"] >= 1 and sla
            sla = await eventually(breach, "the SLA counts a breach of the cache")
            assert False is sla["services"]["cache"]["compliant"]

            async def burn_in_prometheus() -> Any:
                return prometheus.query('ALERTS{alertname="CacheAvailabilityBudgetBurn",alertstate="firing"}')
            await eventually(burn_in_prometheus, "the burn-rate alert fires in Prometheus")

            async def burn_in_alertmanager() -> Any:
                alerts = await get(f"{alertmanager.url}/api/v2/alerts")
                return [a for a in alerts if a["labels"]["alertname"] == "CacheAvailabilityBudgetBurn"]
            await eventually(burn_in_alertmanager, "the burn-rate alert reaches Alertmanager")

            async def firing_in_process() -> Any:
                alerts = await get(f"{service.url}/api/monitoring/alerts", headers=auth)
                return next((a for a in alerts["alerts"] if a["rule"] == "ErrorRateHigh" and a["state"] == "firing"),
                            None)
            alert = await eventually(firing_in_process, "the in-process ErrorRateHigh alert fires")
            async with http.post(f"{service.url}/api/monitoring/alerts/acknowledge/{alert['id']}",
                                 json={"comment": "on it"}, headers=oncall) as r:
                assert 200 == r.status

            async def silence() -> Any:
                silences = await get(f"{alertmanager.url}/api/v2/silences")
                return [s for s in silences if s["status"]["state"] == "active"
                        and {"name": "alertname", "value": "ErrorRateHigh", "isRegex": False, "isEqual": True}
                        in s["matchers"]]
            [made] = await eventually(silence, "the acknowledgement becomes a silence in Alertmanager")
            assert "on it" in made["comment"]

            async with browser.page() as page:
                await page.open(f"{service.url}/status")
                await page.wait_until("document.body.dataset.state === 'ready'")
                shown = await page.evaluate(
                    "[...document.querySelectorAll('[data-component]')].map(c => [c.dataset.component, "
                    "c.dataset.status])")
                await page.screenshot(ARTIFACTS / "stack-outage.png", full_page=True)
                errors = page.console_errors()
            assert ["major_outage"] == [status for cid, status in shown if cid == "cache"], shown
            assert [] == errors

            async def webhook_heard() -> Any:
                async with http.get(f"{service.url}/metrics") as r:
                    return "tenant_exporter_alertmanager_notifications_total{" in await r.text()
            await eventually(webhook_heard, "Alertmanager's notifications reach the service's webhook")

            sample = {"name": "case_processing_time", "value": 234, "tags": {"case_type": "fraud"}}
            async with http.post(f"{service.url}/api/monitoring/metrics/custom", json=sample, headers=auth) as r:
                assert 200 == r.status  # a tenant with custom series: the custom-series ratio has something to record
            records = sorted({rule["record"] for path in (tmp_path / "rules").glob("*.yml")
                              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
                              if "record" in rule})
            silent = []
            for record in records:
                async def recorded(record: str = record) -> Any:
                    return prometheus.query(record)
                try:
                    await eventually(recorded, f"the recording rule {record}", deadline=20)
                except AssertionError:
                    silent.append(record)
            assert ([], True) == (silent, len(records) > 40)

            empty = []
            for path in DASHBOARDS:  # each variable offers values; each panel has data with All and with one value
                board = load(path)

                async def offered(board: dict[str, Any] = board) -> Any:
                    values = variable_values(prometheus, board)
                    return all(values.values()) and values
                values = await eventually(offered, f"{path.name}: every variable offers values", deadline=20)
                assert ("tenant-exporter", "cache") == (values["job"][0], values["service"][1])
                # one value of each: the first instance and tenant, and the service that is down (burn alerts)
                chosen = {name: "cache" if name == "service" else found[0] for name, found in values.items()
                          if name != "job"}
                for panel in board["panels"]:
                    for target in panel["targets"]:
                        for picked in (ALL, {**ALL, **chosen}):
                            query = fill(target["expr"], picked, rate_interval="5s", range_="5m")

                            async def has_data(query: str = query) -> Any:
                                return prometheus.query(query)
                            try:
                                await eventually(has_data, f"{path.name}: {panel['title']}", deadline=20)
                            except AssertionError:
                                empty.append(f"{path.name}: {panel['title']}: {query}")
            assert [] == empty
            for task in traffic:
                task.cancel()
            await asyncio.gather(*traffic, return_exceptions=True)
    finally:
        browser.stop()
        prometheus.stop()
        service.kill()
        alertmanager.stop()
