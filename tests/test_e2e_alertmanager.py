"""End to end with the real Alertmanager: in-process alerts reach it and resolve there, an acknowledgement
becomes a silence, expiring the silence ends the acknowledgement, and its notifications come back to the
service's webhook. The service runs as a real process; Alertmanager routes to the service's webhook."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.alertmanager_process import AlertmanagerProcess
from tests.support.helpers import ROOT, eventually, make_config_dir
from tests.support.service_process import ServiceProcess, free_port, keep_sending

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run

# One error rule with a short window: 500s fire it within seconds and it resolves ~10 s after they stop.
MONITORING = """version: 1
evaluation_interval: 1s
window: 10s
probes: {interval: 1s, timeout: 1s}
rules:
  - {name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 2s, severity: error,
     summary: High error rate, description: More than 5% of requests fail.,
     runbook_url: https://runbooks.example.com/error-rate}
"""


class Stack:
    def __init__(self, tmp_path: Path, *, alertmanager_up: bool = True) -> None:
        port = free_port()
        self.alertmanager = AlertmanagerProcess(tmp_path, f"http://127.0.0.1:{port}/-/alertmanager/webhook")
        make_config_dir(tmp_path / "config", **{"monitoring.yml": MONITORING})
        self.service = ServiceProcess(tmp_path, {
            "DATABASE_URL": f"sqlite:///{tmp_path}/am.db", "ENABLE_TEST_ROUTES": "true",
            "ALERTMANAGER_URL": self.alertmanager.url, "ALERTMANAGER_RESEND_INTERVAL": "1",
            "ALERTMANAGER_SYNC_INTERVAL": "0.5", "ALERTMANAGER_SILENCE_DURATION": "3600",
        }, port=port)
        checked = self.alertmanager.check_config()
        assert 0 == checked.returncode, checked.stdout + checked.stderr
        self.oncall = self.key("operator", "alice-oncall")  # platform alerts are acknowledged by operators
        self.operator = self.key("operator", "ops")
        if alertmanager_up:
            self.alertmanager.start()
        self.service.start()

    def key(self, role: str, name: str) -> dict[str, str]:
        created = self.service.cli("keys", "create", "--tenant", "default-tenant", "--role", role, "--name", name)
        assert 0 == created.returncode, created.stderr
        return {"Authorization": f"Bearer {created.stdout.strip()}"}

    def stop(self) -> None:
        self.service.kill()
        self.alertmanager.stop()
        log = self.service.log.read_text()
        assert "Traceback" not in log, log[-4000:]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    yield made
    made.stop()


@pytest.fixture
def stack_without_alertmanager(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path, alertmanager_up=False)
    yield made
    made.stop()


@contextlib.asynccontextmanager
async def failing_requests(http: aiohttp.ClientSession) -> AsyncIterator[None]:
    """500s, ten a second, while inside."""
    task = asyncio.create_task(keep_sending(http, "/-/test/status/500", 0.1))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def get(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> Any:
    async with http.get(path, headers=headers) as r:
        assert 200 == r.status, await r.text()
        return await r.json() if r.content_type == "application/json" else await r.text()


async def our_alert(http: aiohttp.ClientSession, stack: Stack) -> dict[str, Any] | None:
    alerts = (await get(http, "/api/monitoring/alerts", stack.oncall))["alerts"]
    return next((a for a in alerts if a["rule"] == "ErrorRateHigh" and a["state"] == "firing"), None)


async def notifications_counted(http: aiohttp.ClientSession, stack: Stack) -> dict[tuple[str, str], float]:
    families = text_string_to_metric_families(await get(http, "/metrics", {}))
    return {(s.labels["status"], s.labels["severity"]): s.value for f in families
            if f.name == "tenant_exporter_alertmanager_notifications" for s in f.samples if s.value}


async def silence_of_alert(http: aiohttp.ClientSession, stack: Stack) -> str | None:
    """The silence id the service shows on the firing alert's acknowledgement."""
    alert = await our_alert(http, stack)
    ack = alert["acknowledgement"] if alert else None
    return ack["silence_id"] if ack else None


async def unacknowledged(http: aiohttp.ClientSession, stack: Stack) -> dict[str, Any] | None:
    alert = await our_alert(http, stack)
    return alert if alert and alert["acknowledgement"] is None else None


async def resolved_counted(http: aiohttp.ClientSession, stack: Stack) -> dict[tuple[str, str], float] | None:
    counted = await notifications_counted(http, stack)
    return counted if counted.get(("resolved", "error")) else None


def silence(stack: Stack, silence_id: str) -> dict[str, Any]:
    return next(s for s in stack.alertmanager.silences() if s["id"] == silence_id)


def silence_expired(stack: Stack, silence_id: str) -> bool:
    return "expired" == silence(stack, silence_id)["status"]["state"]


async def test_an_alert_reaches_alertmanager_an_acknowledgement_silences_it_and_both_end_when_it_resolves(
    stack: Stack,
) -> None:
    """A firing in-process alert appears in Alertmanager (labels, annotations, source) and comes back to the
    webhook; acknowledging it creates a silence (matchers, createdBy, comment) that suppresses it; when the
    alert resolves it leaves Alertmanager's active alerts and the service expires the silence."""
    am = stack.alertmanager
    async with aiohttp.ClientSession(stack.service.url) as http:
        async with failing_requests(http):
            alert = await eventually(lambda: our_alert(http, stack))
            [posted] = await eventually(lambda: am.alerts(alertname="ErrorRateHigh"))
            assert ({**alert["labels"], "source": "tenant-exporter"}, "active") \
                == (posted["labels"], posted["status"]["state"])
            assert ({"summary": "High error rate", "description": "More than 5% of requests fail.",
                     "runbook_url": "https://runbooks.example.com/error-rate", "alert_id": alert["id"]},
                    f"{stack.service.url}/api/monitoring/alerts") == (posted["annotations"], posted["generatorURL"])
            assert 1 <= (await eventually(lambda: notifications_counted(http, stack))).get(("firing", "error"), 0)
            [note] = (await get(http, "/api/monitoring/alertmanager/notifications?limit=1", stack.operator))[
                "notifications"]
            assert ("service", "firing", "error", ["ErrorRateHigh"]) \
                == (note["receiver"], note["status"], note["severity"], [a["labels"]["alertname"]
                                                                         for a in note["alerts"]])

            async with http.post(f"/api/monitoring/alerts/acknowledge/{alert['id']}", headers=stack.oncall,
                                 json={"comment": "looking into it"}) as r:
                assert 200 == r.status
            silence_id = await eventually(lambda: silence_of_alert(http, stack))
            acked = await our_alert(http, stack)
            made = silence(stack, silence_id)
            assert ("active", "alice-oncall", sorted(acked["labels"].items())) \
                == (made["status"]["state"], made["createdBy"],
                    sorted((m["name"], m["value"]) for m in made["matchers"] if m["isEqual"] and not m["isRegex"]))
            assert made["comment"].endswith(": looking into it")
            [suppressed] = await eventually(lambda: [a for a in am.alerts(alertname="ErrorRateHigh")
                                                     if a["status"]["silencedBy"]])
            assert ("suppressed", [silence_id]) == (suppressed["status"]["state"], suppressed["status"]["silencedBy"])

        # the 500s stop: the alert resolves in the service and in Alertmanager, and the silence ends with it
        assert await eventually(lambda: not am.alerts(alertname="ErrorRateHigh"))
        assert await eventually(lambda: silence_expired(stack, silence_id))
        assert None is await our_alert(http, stack)


async def test_alertmanager_down_at_first_gets_the_alert_and_the_silence_later_and_expiring_it_ends_the_ack(
    stack_without_alertmanager: Stack,
) -> None:
    """While Alertmanager is down the alert fires and is acknowledged at once (no silence yet); once it is up
    the alert and the silence arrive; expiring the silence there ends the acknowledgement (audited), and the
    resolved alert is notified back to the webhook."""
    stack = stack_without_alertmanager
    am = stack.alertmanager
    async with aiohttp.ClientSession(stack.service.url) as http:
        async with failing_requests(http):
            alert = await eventually(lambda: our_alert(http, stack))
            async with http.post(f"/api/monitoring/alerts/acknowledge/{alert['id']}", headers=stack.oncall) as r:
                answer = await r.json()
                assert (200, "alice-oncall", None) == (r.status, answer["acknowledgement"]["acknowledged_by"],
                                                       answer["acknowledgement"]["silence_id"])
            failed = await eventually(lambda: _requests(http, stack, "post_alerts", "error"))
            assert 1 <= failed

            am.start()
            [posted] = await eventually(lambda: am.alerts(alertname="ErrorRateHigh"))
            silence_id = await eventually(lambda: silence_of_alert(http, stack))
            assert ("alice-oncall", "active") == (silence(stack, silence_id)["createdBy"],
                                                  silence(stack, silence_id)["status"]["state"])

            am.expire(silence_id)
            ended = await eventually(lambda: unacknowledged(http, stack))
            assert (alert["id"], "firing") == (ended["id"], ended["state"])
            events = (await get(http, "/api/audit-logs/search?action=alert.acknowledgement.end", stack.oncall))[
                "data"]
            assert [("alertmanager", alert["id"], silence_id, "expired")] == [
                (e["actor"]["name"], e["target"]["id"], e["details"]["silence_id"], e["details"]["silence_state"])
                for e in events]
            assert posted["labels"]["alertname"] == "ErrorRateHigh"

        counted = await eventually(lambda: resolved_counted(http, stack))
        assert 1 <= counted[("firing", "error")]
        assert [] == am.alerts(alertname="ErrorRateHigh")


async def _requests(http: aiohttp.ClientSession, stack: Stack, operation: str, result: str) -> float:
    families = text_string_to_metric_families(await get(http, "/metrics", {}))
    return sum(s.value for f in families if f.name == "tenant_exporter_alertmanager_requests"
               for s in f.samples if s.name.endswith("_total") and s.labels == {"operation": operation,
                                                                                "result": result})


def test_the_shipped_config_passes_amtool_and_lets_prometheus_copy_of_an_alert_inhibit_the_services(
    tmp_path: Path,
) -> None:
    """deploy/alertmanager/alertmanager.yml passes amtool check-config, and in the real Alertmanager the
    service's copy of an alert is inhibited while Prometheus's copy of the same alert fires."""
    shipped = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    assert {"http://tenant-exporter:8000/-/alertmanager/webhook"} \
        == {w["url"] for r in shipped["receivers"] for w in r["webhook_configs"]}
    for receiver in shipped["receivers"]:  # nothing listens there: the point is the routing, not delivery
        receiver["webhook_configs"][0]["url"] = "http://127.0.0.1:9/-/alertmanager/webhook"
    am = AlertmanagerProcess(tmp_path, "", config=shipped)
    checked = am.check_config()
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    am.start()
    try:
        now = datetime.now(UTC)
        window = {"startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}
        labels = {"alertname": "ErrorRateHigh", "severity": "error", "signal": "error_rate"}
        am.post_alerts([{"labels": {**labels, "job": "tenant-exporter", "instance": "api-1:8000"}, **window},
                        {"labels": {**labels, "source": "tenant-exporter"}, **window}])
        deadline = time.monotonic() + 15
        while True:  # the inhibitor sees new alerts through a subscription, a moment after they are posted
            alerts = {a["labels"].get("source", "prometheus"): a["status"]
                      for a in am.alerts(alertname="ErrorRateHigh")}
            if alerts.get("tenant-exporter", {}).get("inhibitedBy") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (["prometheus", "tenant-exporter"], "active", "suppressed") \
            == (sorted(alerts), alerts["prometheus"]["state"], alerts["tenant-exporter"]["state"])
        assert 1 == len(alerts["tenant-exporter"]["inhibitedBy"])
    finally:
        am.stop()
