"""An incident on the status page in real headless Chromium: while it lasts (with the scheduled maintenance)
and after it; the screenshots are written to ``tests/artifacts/``."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from tests.support.chromium import Chromium
from tests.support.helpers import make_config_dir
from tests.support.service_process import ServiceProcess, keep_sending
from tests.support.status_page import ARTIFACTS, fetch_status, render

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
