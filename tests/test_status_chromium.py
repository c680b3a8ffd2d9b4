"""The status page in real headless Chromium (Debian's ``chromium``), driven over the DevTools protocol.

It renders every service of ``/api/monitoring/status`` with no console error, fits a phone, draws the
contract's 90-day history as coloured SVG bars, shows an outage of a failing self-probe, and an incident
while it lasts (with the scheduled maintenance) and after it; the screenshots are written to
``tests/artifacts/`` (and checked pixel by pixel where colour is the point).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter.http.routes import status as status_api
from tests.support.chromium import Chromium, Page
from tests.support.helpers import ROOT, make_config_dir
from tests.support.png import decode
from tests.support.service_process import ServiceProcess, free_port, keep_sending

ARTIFACTS = ROOT / "tests" / "artifacts"
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

RENDERED = """(() => ({
  title: document.title,
  overall: document.getElementById("overall-text").textContent,
  indicator: document.getElementById("overall").dataset.indicator,
  updated: document.getElementById("updated-at").getAttribute("datetime"),
  components: [...document.querySelectorAll("#components > li")].map((c) => {
    const chart = c.querySelector("svg.bars");
    return {
      id: c.dataset.component,
      name: c.querySelector("h3").textContent,
      status: c.querySelector(".component-status").textContent,
      role: chart.getAttribute("role"),
      label: document.getElementById(chart.getAttribute("aria-labelledby")).textContent,
      bars: [...chart.querySelectorAll("rect")].map((r) => r.getAttribute("class")),
      first: chart.querySelector("rect title").textContent,
      month: c.querySelector(".uptime-figures").textContent,
    };
  }),
  incidents: [...document.querySelectorAll("#incidents article h3")].map((h) => h.textContent),
  empty: document.querySelector("#incidents .no-incidents")?.textContent ?? null,
  overflows: document.documentElement.scrollWidth > window.innerWidth,
}))()"""


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    browser = Chromium(tmp_path).start()
    yield browser
    browser.stop()


def start_service(tmp_path: Path, probe_path: str | None = None) -> ServiceProcess:
    """The real service; its self-probe GETs ``probe_path`` on its own listener when given."""
    make_config_dir(tmp_path / "config", **{"monitoring.yml": MONITORING})
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/status.db",
                                        "ENABLE_TEST_ROUTES": "true"})
    if probe_path is not None:
        service.env["PROBE_API_URL"] = service.url + probe_path
    return service.start()


async def fetch_status(url: str, until: Callable[[dict[str, Any]], bool], deadline: float = 30.0) -> dict[str, Any]:
    """GET /api/monitoring/status until ``until`` holds for the answer."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(deadline):
        while True:
            async with http.get(f"{url}/api/monitoring/status") as r:
                summary: dict[str, Any] = await r.json()
            if until(summary):
                return summary
            await asyncio.sleep(0.2)


async def render(page: Page, url: str, **viewport: Any) -> dict[str, Any]:
    await page.open(f"{url}/status", **viewport)
    await page.wait_until("document.body.dataset.state === 'ready'")
    return dict(await page.evaluate(RENDERED))


async def accessible_images(page: Page) -> list[str]:
    """The names assistive technology gets for the page's images (Chromium's accessibility tree)."""
    tree = await page.send("Accessibility.getFullAXTree")
    return [node.get("name", {}).get("value", "") for node in tree["nodes"]
            if not node.get("ignored") and node.get("role", {}).get("value") in ("image", "img")]


def colour_at(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    return decode(png).pixel(x, y)


async def bar_colours(page: Page, selector: str, indexes: list[int]) -> list[tuple[int, int, int]]:
    """The colour in the middle of each of these bars, read from a screenshot of the chart."""
    png = decode(await page.screenshot(selector=selector))
    step = png.width / 90
    return [png.pixel(int(i * step + step * 3 / 8), png.height // 2) for i in indexes]


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


INCIDENT_MONITORING = """version: 1
evaluation_interval: 1s
window: 10s
probes: {interval: 1s, timeout: 1s}
rules:
  - {name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 2s, severity: error,
     summary: High error rate}
"""
SECTIONS = """(() => {
  const items = (id) => [...document.querySelectorAll(`#${id} article`)].map((a) => ({
    name: a.querySelector("h3").textContent, status: a.dataset.status,
    updates: [...a.querySelectorAll(".updates li")].map((li) => li.textContent),
  }));
  const empty = (id) => document.querySelector(`#${id} .no-incidents`)?.textContent ?? null;
  return {
    overall: document.getElementById("overall-text").textContent,
    indicator: document.getElementById("overall").dataset.indicator,
    api: document.querySelector('[data-component="api"] .component-status').textContent,
    current: items("incidents"), currentEmpty: empty("incidents"),
    past: items("past-incidents"), pastEmpty: empty("past-incidents"),
    maintenance: items("maintenance"),
  };
})()"""


async def test_an_incident_on_the_page_while_it_lasts_and_after_it(tmp_path: Path, chromium: Chromium) -> None:
    """500s fire ErrorRateHigh: the page shows a partial outage with the incident, identified with the operator's
    public message, and the scheduled maintenance; once the errors stop the banner is green, no incident is
    current, and the incident is listed as past, resolved. The banner, the API's status and the incidents agree
    in both screenshots, with no console error."""
    make_config_dir(tmp_path / "config", **{"monitoring.yml": INCIDENT_MONITORING})
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/incident.db",
                                        "ENABLE_TEST_ROUTES": "true"})
    key = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "operator").stdout.strip()
    operator = {"Authorization": f"Bearer {key}"}
    service.start()
    try:
        async with aiohttp.ClientSession(service.url) as http:
            now = datetime.now(UTC)
            window = {"name": "Database upgrade", "services": ["database"], "description": "A new version.",
                      "start": (now + timedelta(days=2)).isoformat(),
                      "end": (now + timedelta(days=2, hours=1)).isoformat()}
            async with http.post("/api/monitoring/maintenance", json=window, headers=operator) as r:
                assert 201 == r.status, await r.text()
            sender = asyncio.create_task(keep_sending(http, "/-/test/status/500", 0.05))
            try:
                summary = await fetch_status(service.url, lambda s: any(i["status"] != "resolved"
                                                                        for i in s["incidents"]))
                async with http.get("/api/monitoring/alerts", headers=operator) as r:
                    alert = (await r.json())["alerts"][0]
                async with http.post(f"/api/monitoring/alerts/acknowledge/{alert['id']}", headers=operator,
                                     json={"comment": "private", "public_message": "Rolling back the release."}) as r:
                    assert 200 == r.status
                await fetch_status(service.url, lambda s: s["incidents"][0]["status"] == "identified")
                async with chromium.page() as page:
                    await render(page, service.url)
                    during = await page.evaluate(SECTIONS)
                    await page.screenshot(ARTIFACTS / "status-incident.png", full_page=True)
                    errors = page.console_errors()
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            await fetch_status(service.url, lambda s: s["incidents"] and s["incidents"][0]["status"] == "resolved")
            async with chromium.page() as page:
                await render(page, service.url)
                after = await page.evaluate(SECTIONS)
                await page.screenshot(ARTIFACTS / "status-after-incident.png", full_page=True)
                errors += page.console_errors()
    finally:
        service.stop()
    name = summary["incidents"][0]["name"]
    assert ("Partial System Outage", "major", "Partial outage", [(name, "identified")],
            "No incidents in the last 90 days.", [("Database upgrade", "scheduled")]) == (
        during["overall"], during["indicator"], during["api"], [(i["name"], i["status"]) for i in during["current"]],
        during["pastEmpty"], [(m["name"], m["status"]) for m in during["maintenance"]])
    assert any("Rolling back the release." in u for u in during["current"][0]["updates"])
    assert not any("private" in u for u in during["current"][0]["updates"])
    assert ("All Systems Operational", "none", "Operational", "No incidents right now.", [(name, "resolved")]) == (
        after["overall"], after["indicator"], after["api"], after["currentEmpty"],
        [(i["name"], i["status"]) for i in after["past"]])
    assert [] == errors
