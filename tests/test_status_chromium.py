"""The status page in real headless Chromium (Debian's ``chromium``), driven over the DevTools protocol.

It renders every service of ``/api/monitoring/status`` with no console error, fits a phone, draws the
contract's 90-day history as coloured SVG bars and shows an outage of a failing self-probe (an incident
while it lasts and after it: test_status_incident_chromium.py); the screenshots are written to
``tests/artifacts/`` (and checked pixel by pixel where colour is the point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.http.routes import status as status_api
from tests.support.chromium import Chromium
from tests.support.helpers import make_config_dir
from tests.support.png import decode
from tests.support.service_process import ServiceProcess, free_port
from tests.support.status_page import ARTIFACTS, accessible_images, bar_colours, colour_at, fetch_status, render

STATUS_TEXT = {"operational": "Operational", "degraded_performance": "Degraded performance",
               "partial_outage": "Partial outage", "major_outage": "Major outage"}
BANNER = {"none": (0x2E, 0x7D, 0x32), "critical": (0xB7, 0x1C, 0x1C)}
BARS = {"bar-ok": (0x3B, 0xB2, 0x73), "bar-warn": (0xF2, 0xB0, 0x1E), "bar-bad": (0xE0, 0x5D, 0x44),
        "bar-none": (0xC9, 0xCE, 0xD6)}
# A probe every second and a short window, so a failing self-probe fires UptimeLow within seconds.
MONITORING = """version: 1
evaluation_interval: 1s
window: 10s
probes: {interval: 1s, timeout: 1s}
rules:
  - {name: UptimeLow, signal: uptime, operator: "<", threshold: 99%, for: 2s, severity: error,
     summary: Low uptime, description: Fewer than 99% of the API probes succeed.}
"""

def start_service(tmp_path: Path, probe_path: str | None = None) -> ServiceProcess:
    """The real service; its self-probe GETs ``probe_path`` on its own listener when given."""
    make_config_dir(tmp_path / "config", **{"monitoring.yml": MONITORING})
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/status.db",
                                        "ENABLE_TEST_ROUTES": "true"})
    if probe_path is not None:
        service.env["PROBE_API_URL"] = service.url + probe_path
    return service.start()


async def test_the_status_page_shows_every_service_with_no_console_error(
    tmp_path: Path, chromium: Chromium,
) -> None:
    """Every component of /api/monitoring/status is drawn with its status and 90 grey no-data bars, the page
    fits a phone, the console stays clean, and the screenshots are written."""
    service = start_service(tmp_path)
    try:
        summary = await fetch_status(service.url, lambda s: s["components"][0]["status"] == "operational")
        async with chromium.page() as page:
            shown = await render(page, service.url)
            await page.screenshot(ARTIFACTS / "status-operational.png", full_page=True)
            banner = await page.screenshot(selector="#overall")
            bars = await bar_colours(page, "#components svg.bars", [0, 89])
            phone = await render(page, service.url, width=390, height=844, mobile=True)
            await page.screenshot(ARTIFACTS / "status-phone.png", full_page=True)
            errors = page.console_errors()
    finally:
        service.stop()
    expected = [(c["id"], c["name"], STATUS_TEXT[c["status"]], "img", ["bar-none"] * 90,
                 f"{c['uptime_days'][0]['date']}: no data") for c in summary["components"]]
    assert expected == [(c["id"], c["name"], c["status"], c["role"], c["bars"], c["first"])
                        for c in shown["components"]]
    assert ("tenant-exporter status", "All Systems Operational", "none", [], "No incidents right now.") \
        == (shown["title"], shown["overall"], shown["indicator"], shown["incidents"], shown["empty"])
    assert "No uptime data for the last 90 days." == shown["components"][0]["label"]
    assert [BARS["bar-none"]] * 2 == bars
    assert BANNER["none"] == colour_at(banner, 10, decode(banner).height // 2)
    assert (False, [c["name"] for c in summary["components"]]) \
        == (phone["overflows"], [c["name"] for c in phone["components"]])
    assert [] == errors
    assert (ARTIFACTS / "status-operational.png").read_bytes().startswith(b"\x89PNG")


async def test_a_failing_self_probe_shows_a_major_outage_in_the_page_and_the_screenshot(
    tmp_path: Path, chromium: Chromium,
) -> None:
    """With the API self-probe failing, the page says Major outage for the API, lists the incident, and the
    screenshot's banner is outage red."""
    service = start_service(tmp_path, probe_path="/-/test/status/503")
    try:
        await fetch_status(service.url, lambda s: s["components"][0]["status"] == "major_outage" and s["incidents"])
        async with chromium.page() as page:
            shown = await render(page, service.url)
            await page.screenshot(ARTIFACTS / "status-outage.png", full_page=True)
            banner = await page.screenshot(selector="#overall")
            errors = page.console_errors()
    finally:
        service.stop()
    assert ("Major Service Outage", "critical",
            [("api", "API", "Major outage"), ("database", "Database", "Operational")], ["API outage"]) \
        == (shown["overall"], shown["indicator"], [(c["id"], c["name"], c["status"]) for c in shown["components"]],
            shown["incidents"])
    assert BANNER["critical"] == colour_at(banner, 10, decode(banner).height // 2)
    assert [] == errors


def contract_summary(now: datetime) -> dict[str, Any]:
    """A status in the issue 6 contract's shape, with 90 days of history (as the sla branch serves it)."""
    days = [(now.date() - timedelta(days=89 - i)).isoformat() for i in range(90)]
    history = [None] * 30 + [100.0] * 55 + [99.5, 100.0, 90.0, 100.0, 99.95]
    stamp = now.isoformat().replace("+00:00", "Z")

    def component(cid: str, name: str, status: str, position: int, uptime: list[float | None]) -> dict[str, Any]:
        return {"id": cid, "name": name, "status": status, "created_at": stamp, "updated_at": stamp,
                "position": position, "description": f"The {name}.", "showcase": True, "start_date": days[30],
                "group_id": None, "page_id": "tenant-exporter", "group": False, "only_show_if_degraded": False,
                "uptime_days": [{"date": d, "uptime": u} for d, u in zip(days, uptime, strict=True)],
                "uptime_month_to_date": 98.61, "sla_target": 99.9}

    return {
        "page": {"id": "tenant-exporter", "name": "Acme", "url": "http://status.example", "time_zone": "Etc/UTC",
                 "updated_at": stamp},
        "status": {"indicator": "minor", "description": "Minor Service Outage"},
        "components": [component("database", "Database <db>", "degraded_performance", 2, [100.0] * 90),
                       component("api", "API", "operational", 1, history)],
        "incidents": [{"id": "inc1", "name": "Slow <b>queries</b>", "status": "monitoring", "impact": "minor",
                       "created_at": stamp, "updated_at": stamp, "started_at": stamp, "resolved_at": None,
                       "shortlink": None, "components": [{"id": "database", "name": "Database <db>",
                                                          "status": "degraded_performance"}],
                       "incident_updates": [{"id": "u1", "status": "monitoring", "body": "A fix is out.",
                                             "created_at": stamp, "display_at": stamp}]}],
        "scheduled_maintenances": [],
    }


@pytest.fixture
async def contract_site() -> AsyncIterator[str]:
    """The real page, script and stylesheet, beside a fixed status document in the contract's shape."""
    summary = contract_summary(datetime.now(UTC))

    async def status_json(request: web.Request) -> web.Response:
        return web.json_response(summary)

    app = web.Application()
    pages = status_api.StatusPageApi(lambda: None)  # type: ignore[arg-type,return-value]  # only the files
    app.router.add_get("/status", pages.status_page)
    app.router.add_get("/status/status.js", pages.status_script)
    app.router.add_get("/status/status.css", pages.status_stylesheet)
    app.router.add_get("/api/monitoring/status", status_json)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_page_draws_the_contracts_history_incidents_and_order(
    contract_site: str, chromium: Chromium,
) -> None:
    """Given 90 days of history in the contract's shape, the bars are green at or above the target, amber below
    it, red below 95 % and grey without data, each chart named by its summary for screen readers; components
    follow `position`; markup in names stays text."""
    async with chromium.page() as page:
        shown = await render(page, contract_site)
        await page.screenshot(ARTIFACTS / "status-history.png", full_page=True)
        colours = await bar_colours(page, '[data-component="api"] svg.bars', [0, 29, 30, 85, 87, 89])
        images = await accessible_images(page)
        errors = page.console_errors()
    api, database = shown["components"]
    assert ["bar-none"] * 30 + ["bar-ok"] * 55 + ["bar-warn", "bar-ok", "bar-bad", "bar-ok", "bar-ok"] == api["bars"]
    assert [BARS[c] for c in ("bar-none", "bar-none", "bar-ok", "bar-warn", "bar-bad", "bar-ok")] == colours
    assert [("api", "API", "Operational"), ("database", "Database <db>", "Degraded performance")] \
        == [(c["id"], c["name"], c["status"]) for c in (api, database)]
    assert ("Acme status", "Minor Service Outage", ["Slow <b>queries</b>"]) \
        == (shown["title"], shown["overall"], shown["incidents"])
    assert "This month: 98.61%SLA target: 99.9%" == api["month"]
    assert api["label"].startswith("90-day uptime: 60 of 90 days with data, 2 below the 99.9% target; lowest 90%")
    assert [api["label"], database["label"]] == images  # each chart's text alternative, as a screen reader gets it
    assert [] == errors
