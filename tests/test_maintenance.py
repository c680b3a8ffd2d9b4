"""Scheduled maintenance: operators schedule and cancel windows (audited), the status page shows them and the
components under maintenance, alerts about those services open no incident and reach no Alertmanager, and the
SLA leaves the time out unless the SLO's policy counts it; windows from monitoring.yml work the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.alertmanager.client import AlertmanagerClient
from exporter.alertmanager.forwarder import AlertForwarder
from exporter.core.errors import ConfigError
from exporter.monitoring.config import load_monitoring
from tests.support.audit_helpers import search
from tests.support.monitoring import PROBE_RULES, config_with, tick
from tests.support.service import Service, ServiceFactory
from tests.support.sla_helpers import INTERVAL, rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def schedule(service: Service, headers: dict[str, str], **body: Any) -> tuple[int, dict[str, Any]]:
    async with service.client.post("/api/monitoring/maintenance", json=body, headers=headers) as r:
        return r.status, dict(await r.json())


async def status(service: Service) -> dict[str, Any]:
    await service.services.incidents.sync()
    async with service.client.get("/api/monitoring/status") as r:
        return dict(await r.json())


async def test_an_operator_schedules_a_window_that_the_page_shows_and_that_holds_back_incidents(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """A window over the API, in progress: the page says under maintenance (indicator maintenance) and lists it;
    UptimeDown fires without opening an incident and shows the window's id; cancelling it (audited, like the
    scheduling) lets the incident open."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    operator = await service.headers("acme", "operator")
    now = service.clock.now()
    code, window = await schedule(service, operator, name="Gateway upgrade", services=["api"], start=iso(now - 60),
                                  end=iso(now + 3600), description="Upgrading the gateway.")
    assert (201, "in_progress", "api") == (code, window["status"], window["source"])
    await tick(service, probe=False, times=6)
    body = await status(service)
    assert (("maintenance", "Service Under Maintenance"), "under_maintenance", [], [window["id"]]) == (
        (body["status"]["indicator"], body["status"]["description"]), body["components"][0]["status"],
        body["incidents"], [m["id"] for m in body["scheduled_maintenances"]])
    maintenance = body["scheduled_maintenances"][0]
    assert ("in_progress", "maintenance", ["api"], "Upgrading the gateway.") == (
        maintenance["status"], maintenance["impact"], [c["id"] for c in maintenance["components"]],
        maintenance["incident_updates"][0]["body"])
    async with service.client.get("/api/monitoring/alerts", headers=operator) as r:
        assert {window["id"]} == {a["maintenance"] for a in (await r.json())["alerts"]}
    async with service.client.delete(f"/api/monitoring/maintenance/{window['id']}", headers=operator) as r:
        assert 200 == r.status
    after = await status(service)
    assert (["Most API probes fail"], "partial_outage", []) == (
        [i["name"] for i in after["incidents"]], after["components"][0]["status"], after["scheduled_maintenances"])
    events = await search(service, operator, action="maintenance", tenant="_platform")
    assert [("maintenance.cancel", window["id"]), ("maintenance.create", window["id"])] == [
        (e["action"], e["target"]["id"]) for e in events]


BAD = [
    ({"services": ["nope"]}, "unknown service 'nope'"),
    ({"end_offset": -30}, "end must be after start"),
    ({"start_offset": -7200, "end_offset": -3600}, "end must be in the future"),
]


@pytest.mark.parametrize(("change", "problem"), BAD, ids=[
    "an unknown service is refused", "an end before the start is refused", "a window already over is refused"])
async def test_a_bad_window_is_a_422_naming_the_problem(make_service: ServiceFactory, change: dict[str, Any],
                                                        problem: str) -> None:
    """A window the schedule cannot take is 422 problem+json saying why; nothing is stored."""
    service = await make_service()
    now = service.clock.now()
    body = {"name": "x", "services": change.get("services", ["api"]), "start": iso(now + change.get("start_offset", 0)),
            "end": iso(now + change.get("end_offset", 600))}
    code, answer = await schedule(service, await service.headers("acme", "operator"), **body)
    assert (422, "urn:tenant-exporter:problem:invalid-maintenance", True, []) == (
        code, answer["type"], any(problem in e for e in answer["errors"]), service.services.maintenance.windows())


async def test_only_operators_schedule_but_every_role_lists(make_service: ServiceFactory) -> None:
    """A tenant admin may not schedule (403) nor cancel (403); a viewer may list; an unknown id is 404."""
    service = await make_service()
    now = service.clock.now()
    code, _ = await schedule(service, await service.headers("acme", "admin"), name="x", services=["api"],
                             start=iso(now), end=iso(now + 60))
    async with service.client.delete("/api/monitoring/maintenance/mnt_0", headers=await service.headers("acme",
                                                                                                         "admin")) as r:
        cancel_by_admin = r.status
    async with service.client.delete("/api/monitoring/maintenance/mnt_0",
                                     headers=await service.headers("acme", "operator")) as r:
        unknown = r.status
    async with service.client.get("/api/monitoring/maintenance", headers=await service.headers("acme")) as r:
        listed = (r.status, await r.json())
    assert (403, 403, 404, (200, {"windows": []})) == (code, cancel_by_admin, unknown, listed)


@pytest.mark.parametrize(("policy", "downtime", "breaches", "shown"), [
    ("exclude", 0.0, 0, "under_maintenance"), ("count", 20.0, 1, "under_maintenance")],
    ids=["by default the window's failed probes are left out of the SLA",
         "with `maintenance: count` they are downtime and a breach, though the page still says maintenance"])
async def test_a_configured_window_leaves_its_time_out_of_the_sla_as_the_policy_says(
    make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path, clock: Any, policy: str, downtime: float,
    breaches: int, shown: str,
) -> None:
    """The cache is down for two probes inside a window of monitoring.yml: excluded, they are neither downtime nor a
    breach; counted, they are both; either way the page shows the cache under maintenance (no incident opens
    for a service down on purpose)."""
    start = clock.now() + 1.5 * INTERVAL  # the window holds the 2nd and 3rd probes
    config = sla_config(tmp_path / "config", cache.port, extra_services="")
    text = (config / "monitoring.yml").read_text()
    text = text.replace("  cache: {type: tcp, address: \"127.0.0.1:", "  cache: {type: tcp, maintenance: "
                        f"{policy}, address: \"127.0.0.1:")
    text = text.replace("sla:\n", f"maintenance:\n  - {{name: Cache move, services: [cache], start: {iso(start)}, "
                                  f"end: {iso(start + 2 * INTERVAL)}}}\nsla:\n", 1)
    (config / "monitoring.yml").write_text(text)
    service = await make_service(config_dir=config)
    await rounds(service, cache, "+--")
    async with service.client.get("/api/monitoring/sla", headers=await service.headers("acme")) as r:
        sla = (await r.json())["services"]["cache"]
    body = await status(service)
    assert (downtime, breaches, shown) == (sla["downtime_minutes"], sla["breaches_this_month"],
                                            next(c for c in body["components"] if c["id"] == "cache")["status"])


def test_a_bad_configured_window_names_the_file_line_and_field(tmp_path: Path) -> None:
    """A window over an unknown service, or one without a time zone, is a config error with file:line:field."""
    config = config_with(tmp_path, PROBE_RULES + "maintenance:\n  - {name: x, services: [nope], "
                                                 "start: 2026-12-20T02:00:00Z, end: 2026-12-20T03:00:00Z}\n"
                                                 "  - {name: y, services: [api], start: 2026-12-20T02:00:00, "
                                                 "end: 2026-12-20T03:00:00Z}\n")
    with pytest.raises(ConfigError) as caught:
        load_monitoring(config)
    assert ["maintenance[0].services", "maintenance[1].start"] == [i.field for i in caught.value.issues]
    assert all(i.line is not None for i in caught.value.issues)


async def test_alertmanager_gets_no_alert_about_a_service_in_maintenance(make_service: ServiceFactory,
                                                                         tmp_path: Path) -> None:
    """While the API is in a maintenance window its firing alerts are held back (nothing to post); once the
    window is cancelled they are posted."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    now = service.clock.now()
    window = await service.services.maintenance.create("Upgrade", ["api"], now - 1, now + 3600, "", "ops")
    await tick(service, probe=False, times=6)
    schedule_ = service.services.maintenance
    async with aiohttp.ClientSession() as session:
        client = AlertmanagerClient("http://127.0.0.1:9", session, CollectorRegistry())
        forwarder = AlertForwarder(client, service.services.alerting, service.clock, CollectorRegistry(),
                                   resend_interval=60, generator_url="http://x/",
                                   held=lambda a: schedule_.silencing(a) is not None)
        held = forwarder.due().items
        await schedule_.cancel(window.id)
        sent = forwarder.due().items
    assert ([], ["UptimeDegraded", "UptimeDown"]) == (held, sorted(p["labels"]["alertname"] for _, p in sent))


async def test_requests_during_a_window_are_left_out_of_the_request_slos(make_service: ServiceFactory) -> None:
    """Requests answered 503 while the API is in a maintenance window do not count against the request SLO."""
    service = await make_service(enable_test_routes=True)
    now = service.clock.now()
    for _ in range(5):
        async with service.client.get("/-/ready") as r:
            assert 200 == r.status
    await service.services.request_slos.flush()  # before the window: counted
    await service.services.maintenance.create("Upgrade", ["api"], now, now + 600, "", "ops")
    for _ in range(5):
        async with service.client.get("/-/test/status/503") as r:
            assert 503 == r.status
    await service.services.request_slos.flush()
    async with service.client.get("/api/monitoring/sla", headers=await service.headers("acme")) as r:
        figures = (await r.json())["slos"]["api-requests"]["month_to_date"]
    assert (5, 0) == (figures["valid_requests"], figures["bad_requests"])
