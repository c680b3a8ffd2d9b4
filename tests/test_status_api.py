"""GET /api/monitoring/status: public, the Statuspage v2 summary shape, component statuses from real probes,
breaches and in-process alerts, incidents (synchronised as the service does every evaluation interval), 90 days
of uptime, and answers while the database is down."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.monitoring import tick
from tests.support.service import Service, ServiceFactory
from tests.support.sla_helpers import INTERVAL, rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint

COMPONENT_FIELDS = ["id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
                    "start_date", "group_id", "page_id", "group", "only_show_if_degraded", "uptime_days",
                    "uptime_month_to_date", "sla_target"]
INCIDENT_FIELDS = ["id", "name", "status", "impact", "created_at", "updated_at", "started_at", "resolved_at",
                   "shortlink", "components", "incident_updates"]


async def status(service: Service) -> dict[str, Any]:
    """The page after the incidents have caught up with their sources (what the background sync does)."""
    await service.services.incidents.sync()
    async with service.client.get("/api/monitoring/status") as r:  # no token: the page is public
        assert (200, "application/json") == (r.status, r.content_type)
        return await r.json()


def component(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in body["components"] if c["id"] == name)


async def test_the_public_page_has_the_statuspage_shape(make_service: ServiceFactory, cache: TcpEndpoint,
                                                        tmp_path: Path) -> None:
    """Without a token: page, status, components (every contract field), incidents, scheduled_maintenances."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    body = await status(service)
    assert ["page", "status", "components", "incidents", "scheduled_maintenances"] == list(body)
    assert ({"id": "tenant-exporter", "name": "tenant-exporter", "url": "/status", "time_zone": "Etc/UTC"},
            {"indicator": "none", "description": "All Systems Operational"}, [], []) == (
        {k: v for k, v in body["page"].items() if k != "updated_at"}, body["status"], body["incidents"],
        body["scheduled_maintenances"])
    assert [(["api", "database", "cache"][i], i + 1, COMPONENT_FIELDS) for i in range(3)] == [
        (c["id"], c["position"], list(c)) for c in body["components"]]
    cache_component = component(body, "cache")
    assert ("Cache", "operational", 99.0, None, None, 90, {None}) == (
        cache_component["name"], cache_component["status"], cache_component["sla_target"],
        cache_component["uptime_month_to_date"], cache_component["start_date"], len(cache_component["uptime_days"]),
        {d["uptime"] for d in cache_component["uptime_days"]})


MAPPING = [
    ("++", "operational", ("none", "All Systems Operational"), []),
    ("+-", "degraded_performance", ("minor", "Minor Service Outage"), []),
    ("+--", "major_outage", ("critical", "Major Service Outage"), ["investigating"]),
    ("+--+", "operational", ("none", "All Systems Operational"), ["resolved"]),
]


@pytest.mark.parametrize(("pattern", "expected", "indicator", "incidents"), MAPPING, ids=[
    "probes succeed: operational, indicator none",
    "one failed probe (not yet a breach, so no incident): degraded_performance, indicator minor",
    "an ongoing breach: major_outage, indicator critical, an incident under investigation",
    "probes succeed again: operational, and the incident is resolved"])
async def test_component_status_follows_the_probes_and_breaches(make_service: ServiceFactory, cache: TcpEndpoint,
                                                                tmp_path: Path, pattern: str, expected: str,
                                                                indicator: tuple[str, str],
                                                                incidents: list[str]) -> None:
    """The cache's component status, the page indicator and the incidents follow the latest probes."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    await rounds(service, cache, pattern)
    body = await status(service)
    assert (expected, indicator, incidents) == (
        component(body, "cache")["status"], (body["status"]["indicator"], body["status"]["description"]),
        [i["status"] for i in body["incidents"]])
    assert {"operational"} == {component(body, name)["status"] for name in ("api", "database")}


async def test_an_incident_reads_like_statuspage_and_leaves_after_90_days(make_service: ServiceFactory,
                                                                         cache: TcpEndpoint, tmp_path: Path) -> None:
    """A resolved breach is an incident with its updates, newest first; it stays listed for 90 days."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    results = await rounds(service, cache, "+--+")
    failed = [r.at for r in results if r.service == "cache" and not r.success]
    [incident] = (await status(service))["incidents"]
    assert INCIDENT_FIELDS == list(incident)[:len(INCIDENT_FIELDS)]
    assert ("Cache outage", "resolved", "critical", [{"id": "cache", "name": "Cache", "status": "operational"}],
            ["resolved", "investigating"]) == (
        incident["name"], incident["status"], incident["impact"], incident["components"],
        [u["status"] for u in incident["incident_updates"]])
    resolved_update = incident["incident_updates"][0]["body"]
    assert "Cache answers its probes again, after 20m down (2 failed probes)." == resolved_update
    assert (failed[0] - INTERVAL, failed[1]) == (
        _epoch(incident["started_at"]), _epoch(incident["resolved_at"]))
    service.clock.advance(89 * 86_400)
    assert ["resolved"] == [i["status"] for i in (await status(service))["incidents"]]
    service.clock.advance(86_400 + 1)
    assert [] == (await status(service))["incidents"]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_uptime_days_hold_90_days_oldest_first_with_null_for_no_data(make_service: ServiceFactory,
                                                                         cache: TcpEndpoint, tmp_path: Path) -> None:
    """Today has the day's uptime, the 89 days before it (no probes) are null; month to date matches."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    await rounds(service, cache, "+++-")
    days = component(await status(service), "cache")["uptime_days"]
    today = service.services.sla.snapshot().history["cache"][-1][0]
    assert (90, today, 75.0, [None] * 89) == (len(days), days[-1]["date"], days[-1]["uptime"],
                                              [d["uptime"] for d in days[:-1]])
    assert (75.0, today) == (component(await status(service), "cache")["uptime_month_to_date"],
                             component(await status(service), "cache")["start_date"])


@pytest.fixture
async def slow_endpoint(aiohttp_server: Any) -> str:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(text="late")

    app = web.Application()
    app.add_routes([web.get("/slow", slow)])
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/slow"


async def test_a_slow_service_is_degraded_but_up(make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path,
                                                 slow_endpoint: str) -> None:
    """A service answering slower than degraded_above is degraded_performance (indicator minor) and 100 % up."""
    docs = f'  docs: {{type: http, url: "{slow_endpoint}", degraded_above: 100ms, sla_target: 99.5%}}\n'
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port, extra_services=docs))
    await rounds(service, cache, "++")
    body = await status(service)
    async with service.client.get("/api/monitoring/sla", headers=await service.headers("acme")) as r:
        sla = (await r.json())["services"]["docs"]
    assert ("degraded_performance", "minor", 100.0, 0.0, 20.0) == (
        component(body, "docs")["status"], body["status"]["indicator"], sla["uptime"], sla["downtime_minutes"],
        sla["degraded_minutes"])


ALERT_RULES = """rules:
  - {name: UptimeDegraded, signal: uptime, operator: "<", threshold: 100%, severity: warning, summary: Some fail}
  - {name: UptimeDown, signal: uptime, operator: "<", threshold: 50%, severity: error, summary: Most fail}
"""


async def test_firing_in_process_alerts_set_the_api_component(make_service: ServiceFactory, cache: TcpEndpoint,
                                                             tmp_path: Path) -> None:
    """A firing warning makes the API degraded_performance; a firing error opens an incident that makes it
    partial_outage."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port, rules=ALERT_RULES))
    await tick(service, probe=True)
    await tick(service, probe=False)  # 1 of 2 probes in the window failed: 50 %, below 100 % (warning)
    warning = component(await status(service), "api")["status"]
    await tick(service, probe=False)  # 1 of 3: below 50 % (error)
    assert ("degraded_performance", "partial_outage") == (warning, component(await status(service), "api")["status"])
