"""End to end with the real Prometheus: an outage of a probed TCP service is counted as a breach by the service,
fires the generated burn-rate alert in Prometheus, and /sla from Prometheus agrees with /sla from the service.

Tolerance (docs/alerting.md): Prometheus holds the counters as of its last scrape (at most one scrape interval
old), misses what a process counted before its first scrape (up to one scrape interval per start), and
``increase()`` extrapolates to the end of the range, so downtime may differ by up to two probe intervals, and
uptime by the share of the observed time that two probe intervals make; breach counts and compliance must be
equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import promtool
from tests.support.helpers import eventually, make_config_dir
from tests.support.prometheus_process import PrometheusProcess
from tests.support.service_process import ServiceProcess, free_port
from tests.support.sla_helpers import live_monitoring
from tests.support.tcp_endpoint import hang_up

pytestmark = [pytest.mark.e2e, pytest.mark.promtool]

INTERVAL = 1.0  # seconds: probes, scrapes and rule evaluations


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[ServiceProcess, PrometheusProcess, int]]:
    cache_port = free_port()
    config = make_config_dir(tmp_path / "config", **{"monitoring.yml": live_monitoring(cache_port)})
    port = free_port()
    prometheus = PrometheusProcess(tmp_path, [f"127.0.0.1:{port}"], rule_files=[tmp_path / "rules" / "slo.yml"])
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db", "CONFIG_DIR": str(config),
                                        "PROMETHEUS_URL": prometheus.url, "SLA_FLUSH_INTERVAL": "1"}, port=port)
    generated = service.cli("rules", "generate", "--rules-dir", str(tmp_path / "rules"))
    assert 0 == generated.returncode, generated.stderr
    checked = promtool.run("check", "rules", "--lint=all", "--lint-fatal", str(tmp_path / "rules" / "slo.yml"))
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    try:
        yield service, prometheus, cache_port
    finally:
        prometheus.stop()
        service.kill()


async def test_an_outage_is_a_breach_fires_the_burn_alert_and_both_sources_agree(
    stack: tuple[ServiceProcess, PrometheusProcess, int],
) -> None:
    """The cache goes down for a few seconds: the service counts one breach, Prometheus fires the page-1h
    burn-rate alert, and /sla?source=prometheus agrees with /sla within the stated tolerance."""
    service, prometheus, cache_port = stack
    token = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "viewer").stdout.strip()
    cache = await asyncio.start_server(hang_up, "127.0.0.1", cache_port)
    # Prometheus first, with the target discovered (up == 0), so that it scrapes the service from its first
    # second, as it does a restarted replica in production
    prometheus.start()
    prometheus.wait_for('up{job="tenant-exporter"}', lambda v: v == 0.0)
    service.start()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(service.url, headers=headers) as http:
        async def sla(query: str = "") -> dict[str, Any]:
            async with http.get(f"/api/monitoring/sla{query}") as r:
                assert 200 == r.status, await r.text()
                return dict(await r.json())

        def in_prometheus(expr: str) -> Any:
            return asyncio.to_thread(prometheus.value, expr)

        async def probes_seen() -> bool:
            return (await in_prometheus('tenant_exporter_probes_total{service="cache"}') or 0) >= 5

        await eventually(probes_seen, "five scraped probes of the cache")
        cache.close()
        await cache.wait_closed()

        async def breach_ongoing() -> bool:
            body = await sla("?details=true")
            return [True] == [b["ongoing"] for b in body["services"]["cache"]["breaches"]] and \
                body["services"]["cache"]["downtime_minutes"] >= 6 * INTERVAL / 60

        await eventually(breach_ongoing, "an ongoing breach of at least six failed probes")

        async def page_fires() -> Any:
            alerts = (await asyncio.to_thread(prometheus.api, "/api/v1/alerts") or {}).get("data", {}).get("alerts", [])
            return [a["labels"] for a in alerts if a["state"] == "firing"
                    and a["labels"]["alertname"] == "CacheAvailabilityBudgetBurn" and a["labels"]["tier"] == "page-1h"]

        [labels] = await eventually(page_fires, "the page-1h burn-rate alert firing in Prometheus")
        cache = await asyncio.start_server(hang_up, "127.0.0.1", cache_port)
        try:
            async def breach_ended() -> bool:
                body = await sla("?details=true")
                return [False] == [b["ongoing"] for b in body["services"]["cache"]["breaches"]]

            await eventually(breach_ended, "the breach ending")
            ours = await sla()
            downtime = ours["services"]["cache"]["downtime_minutes"]

            async def scraped_the_end() -> bool:  # Prometheus has the counters from after the recovery
                return (await in_prometheus('tenant_exporter_probe_downtime_seconds_total{service="cache"}') or 0) \
                    >= downtime * 60

            await eventually(scraped_the_end, "Prometheus scraping the whole outage")
            ours, theirs = await sla(), await sla("?source=prometheus")
        finally:
            cache.close()
            await cache.wait_closed()
    assert ({"severity": "critical", "sloth_severity": "page", "sloth_id": "cache-availability"}.items()
            <= labels.items())
    assert ("service", "prometheus", ours["month"], ours["breaches_this_month"], 1) == (
        ours["source"], theirs["source"], theirs["month"], theirs["breaches_this_month"], theirs["breaches_this_month"])
    for name in ("api", "database", "cache"):
        mine, prom = ours["services"][name], theirs["services"][name]
        observed = mine["observed_minutes"] * 60
        assert (mine["compliant"], mine["breaches_this_month"], mine["sla_target"], None) == (
            prom["compliant"], prom["breaches_this_month"], prom["sla_target"], prom["degraded_minutes"])
        assert abs(mine["downtime_minutes"] - prom["downtime_minutes"]) * 60 <= 2 * INTERVAL, (name, mine, prom)
        assert abs(mine["uptime"] - prom["uptime"]) <= 100 * 2 * INTERVAL / observed, (name, mine, prom)
    assert 0 == service.stop()
