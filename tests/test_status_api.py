"""GET /api/monitoring/status (the contract's Statuspage shape), the uptime badges and the page's files.

(The page drawn by a real browser is in test_status_chromium.py.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exporter import keys
from exporter.badges import badge, percent
from tests.conftest import Service, ServiceFactory
from tests.monitoring import PROBE_RULES, config_with, tick

SVG = "{http://www.w3.org/2000/svg}"
CONTRACT_KEYS = ["page", "status", "components", "incidents", "scheduled_maintenances"]
COMPONENT_KEYS = ["id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
                  "start_date", "group_id", "page_id", "group", "only_show_if_degraded", "uptime_days",
                  "uptime_month_to_date", "sla_target"]
INCIDENT_KEYS = ["id", "name", "status", "impact", "created_at", "updated_at", "started_at", "resolved_at",
                 "shortlink", "components", "incident_updates"]


async def status_of(service: Service) -> dict[str, Any]:
    async with service.client.get("/api/monitoring/status") as r:  # no token: the status is public
        assert (200, "application/json", "*") == (r.status, r.content_type, r.headers["Access-Control-Allow-Origin"])
        return dict(await r.json())


async def badge_of(service: Service, name: str) -> tuple[str, dict[str, str]]:
    """The badge's title and the fill of its message (right-hand) box."""
    async with service.client.get(f"/status/badge/{name}.svg") as r:
        assert (200, "image/svg+xml") == (r.status, r.content_type)
        root = ET.fromstring(await r.text())  # noqa: S314 - our own answer
    rects = root.findall(f"{SVG}g/{SVG}rect")
    return root.findtext(f"{SVG}title") or "", {"label": rects[0].get("fill", ""), "message": rects[1].get("fill", "")}


async def test_the_status_has_the_contracts_shape_with_90_days_and_no_invented_uptime(service: Service) -> None:
    """Without a token, the status lists the api component in the Statuspage shape, 90 UTC days oldest first
    ending today, every one without data (null), and says All Systems Operational."""
    body = await status_of(service)
    assert CONTRACT_KEYS == list(body)
    [api] = body["components"]
    today = datetime.fromtimestamp(service.clock.now(), UTC).date().isoformat()
    days = api["uptime_days"]
    assert (COMPONENT_KEYS, "api", "operational", 99.9, None) \
        == (list(api), api["id"], api["status"], api["sla_target"], api["uptime_month_to_date"])
    assert (90, today, [None] * 90, sorted(d["date"] for d in days)) \
        == (len(days), days[-1]["date"], [d["uptime"] for d in days], [d["date"] for d in days])
    assert ({"indicator": "none", "description": "All Systems Operational"}, [], [], "Etc/UTC") \
        == (body["status"], body["incidents"], body["scheduled_maintenances"], body["page"]["time_zone"])


async def test_a_failing_probe_and_firing_alerts_show_as_outage_and_incidents(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """A warning alone is degraded_performance (minor); a failing probe is major_outage (critical) with one
    incident per firing alert; an acknowledged one is `identified`; all clear again once resolved."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    await tick(service, probe=True)
    await tick(service, probe=False)
    await tick(service, probe=True)  # the latest probe passes; the window still holds a failure: a warning fires
    body = await status_of(service)
    assert ("degraded_performance", "minor", [("Some API probes fail", "minor", "investigating")]) \
        == (body["components"][0]["status"], body["status"]["indicator"],
            [(i["name"], i["impact"], i["status"]) for i in body["incidents"]])
    await tick(service, probe=False, times=6)  # most probes fail: the error fires too
    down = next(a for a in service.app[keys.ALERTING].alerts() if a.rule.name == "UptimeDown")
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{down.id}",
                                   headers=await service.headers("acme", "admin"),
                                   json={"comment": "restarting db-7"}) as r:
        assert 200 == r.status
    body = await status_of(service)
    assert ("major_outage", {"indicator": "critical", "description": "Major Service Outage"}) \
        == (body["components"][0]["status"], body["status"])
    incidents = {i["name"]: i for i in body["incidents"]}
    down_incident = incidents["Most API probes fail"]
    assert (INCIDENT_KEYS, "major", "identified", [("api", "API", "major_outage")]) \
        == (list(down_incident), down_incident["impact"], down_incident["status"],
            [(c["id"], c["name"], c["status"]) for c in down_incident["components"]])
    assert ["identified", "investigating"] == [u["status"] for u in down_incident["incident_updates"]]
    assert (False, False) == ("restarting db-7" in str(body), "acme-admin" in str(body))  # private: who, what
    await tick(service, probe=True, times=21)
    body = await status_of(service)
    assert ("operational", "none", []) \
        == (body["components"][0]["status"], body["status"]["indicator"], body["incidents"])


async def test_the_badge_shows_month_to_date_uptime_coloured_by_status(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """The api badge is an SVG saying its month-to-date uptime (no data here), green while operational and red
    during an outage; an unknown service is a 404 problem."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    assert ("API uptime this month: no data (operational)", {"label": "#555", "message": "#4c1"}) \
        == await badge_of(service, "api")
    await tick(service, probe=False)
    assert ("API uptime this month: no data (major outage)", {"label": "#555", "message": "#e05d44"}) \
        == await badge_of(service, "api")
    async with service.client.get("/status/badge/billing.svg") as r:
        assert (404, "application/problem+json", "urn:tenant-exporter:problem:unknown-service") \
            == (r.status, r.content_type, (await r.json())["type"])


def test_badge_text_is_escaped_and_sized_to_fit() -> None:
    """Markup in a label stays text (the SVG parses and says it back), and a longer message makes a wider badge."""
    root = ET.fromstring(badge('<b>"db" & co</b>', "99.9%", "#4c1"))  # noqa: S314 - our own output
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert ('<b>"db" & co</b>: 99.9%', ['<b>"db" & co</b>'] * 2 + ["99.9%"] * 2) \
        == (root.findtext(f"{SVG}title"), texts)
    assert int(ET.fromstring(badge("api", "100%", "#4c1")).get("width", "0")) \
        < int(ET.fromstring(badge("api", "no data yet", "#4c1")).get("width", "0"))  # noqa: S314


@pytest.mark.parametrize(("value", "expected"), [(99.95, "99.95%"), (99.9, "99.9%"), (100.0, "100%"),
                                                 (99.999, "100%"), (0.0, "0%"), (None, "no data")],
                         ids=["two decimals", "trailing zero dropped", "whole", "rounds to two decimals", "zero",
                              "null is no data"])
def test_uptime_is_written_as_a_short_percentage(value: float | None, expected: str) -> None:
    """Badge and page write uptime with at most two decimals, and no data as "no data"."""
    assert expected == percent(value)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/status", "text/html"), ("/status/status.js", "text/javascript"), ("/status/status.css", "text/css"),
], ids=["the page", "its script", "its stylesheet"])
async def test_the_page_and_its_files_are_served_same_origin_and_revalidated(
    service: Service, path: str, content_type: str,
) -> None:
    """Each file answers with its type and an ETag; the same ETag back gets 304; the page forbids other origins."""
    async with service.client.get(path) as r:
        etag, policy = r.headers["ETag"], r.headers.get("Content-Security-Policy", "")
        assert (200, content_type, "utf-8", "no-cache") \
            == (r.status, r.content_type, r.charset, r.headers["Cache-Control"])
        text = await r.text()
    async with service.client.get(path, headers={"If-None-Match": etag}) as r:
        assert (304, b"") == (r.status, await r.read())
    if path == "/status":
        assert ("default-src 'none'" in policy, "script-src 'self'" in policy, "http" in text.split("<body")[1]) \
            == (True, True, False)  # no CDN, nothing outside this origin
