"""End to end, real processes and a real clock: a service killed in the middle of a firing alert answers
`unhealthy` with the alert already firing at its first request after the restart, the real Alertmanager sees no
resolve/fire flap, and an acknowledgement made before the restart does not carry over to the next episode."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.alertmanager_process import AlertmanagerProcess
from tests.support.helpers import eventually, make_config_dir
from tests.support.service_process import ServiceProcess, free_port, sending

pytestmark = pytest.mark.e2e

MONITORING = """version: 1
evaluation_interval: 1s
window: 20s
probes: {interval: 1s, timeout: 1s}
rules:
  - {name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 2s, severity: error,
     summary: High error rate}
"""


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        port = free_port()
        self.alertmanager = AlertmanagerProcess(tmp_path, f"http://127.0.0.1:{port}/-/alertmanager/webhook")
        make_config_dir(tmp_path / "config", **{"monitoring.yml": MONITORING})
        self.service = ServiceProcess(tmp_path, {
            "DATABASE_URL": f"sqlite:///{tmp_path}/restart.db", "ENABLE_TEST_ROUTES": "true",
            "INSTANCE_ID": "replica-a", "ALERTMANAGER_URL": self.alertmanager.url,
            "ALERTMANAGER_RESEND_INTERVAL": "5"}, port=port)
        created = self.service.cli("keys", "create", "--tenant", "default-tenant", "--role", "operator")
        assert 0 == created.returncode, created.stderr
        self.operator = {"Authorization": f"Bearer {created.stdout.strip()}"}
        self.alertmanager.start()
        self.service.start()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    yield made
    made.service.kill()
    made.alertmanager.stop()
    assert "Traceback" not in made.service.log.read_text()


def failing(http: aiohttp.ClientSession) -> contextlib.AbstractAsyncContextManager[None]:
    """500s, ten a second, while inside."""
    return sending(http, "/-/test/status/500", 0.1)


async def body(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> Any:
    async with http.get(path, headers=headers) as r:
        assert 200 == r.status, await r.text()
        return await r.json()


async def firing(http: aiohttp.ClientSession, stack: Stack) -> dict[str, Any] | None:
    alerts = (await body(http, "/api/monitoring/alerts", stack.operator))["alerts"]
    return next((a for a in alerts if a["state"] == "firing"), None)


def in_alertmanager(stack: Stack) -> list[dict[str, Any]]:
    return stack.alertmanager.alerts(alertname="ErrorRateHigh")


async def test_killed_mid_alert_the_restarted_service_says_unhealthy_at_its_first_request_without_a_flap(
    stack: Stack,
) -> None:
    """SIGKILL while ErrorRateHigh fires; after the restart the first /health answer is unhealthy with the alert
    firing since the same instant, Alertmanager keeps one alert with the same startsAt, and no resolved
    notification comes back through the webhook while the burst goes on."""
    async with aiohttp.ClientSession(stack.service.url) as http:
        async with failing(http):
            before = await eventually(lambda: firing(http, stack), "ErrorRateHigh firing")
            [sent] = await eventually(lambda: in_alertmanager(stack), "the alert in Alertmanager")
        stack.service.kill()
    stack.service.start()
    ready = time.monotonic()
    async with aiohttp.ClientSession(stack.service.url) as http:
        first = await body(http, "/api/monitoring/health", stack.operator)
        waited = time.monotonic() - ready
        async with failing(http):
            await asyncio.sleep(8)
            after = await firing(http, stack)
            notified = (await body(http, "/api/monitoring/alertmanager/notifications", stack.operator))
    assert ("unhealthy", [("ErrorRateHigh", "firing", before["since"])]) == (
        first["status"], [(a["alertname"], a["state"], a["since"]) for a in first["alerts"]]), f"after {waited:.2f}s"
    assert after is not None and (before["id"], before["since"]) == (after["id"], after["since"])
    [still] = in_alertmanager(stack)
    assert (sent["fingerprint"], sent["startsAt"], "active") == (
        still["fingerprint"], still["startsAt"], still["status"]["state"])
    assert [] == [n for n in notified["notifications"] if n["status"] == "resolved"]


async def test_an_acknowledgement_before_a_restart_does_not_cover_the_next_episode(stack: Stack) -> None:
    """Acknowledge the firing alert, kill the service, restart it: the same episode is still acknowledged; once
    the errors stop it resolves, and the next burst fires it unacknowledged."""
    async with aiohttp.ClientSession(stack.service.url) as http:
        async with failing(http):
            alert = await eventually(lambda: firing(http, stack), "ErrorRateHigh firing")
            async with http.post(f"/api/monitoring/alerts/acknowledge/{alert['id']}", headers=stack.operator,
                                 json={"comment": "looking"}) as r:
                assert 200 == r.status
        stack.service.kill()
    stack.service.start()
    async with aiohttp.ClientSession(stack.service.url) as http:
        same = await firing(http, stack)
        assert same is not None and (alert["since"], True) == (same["since"], same["acknowledged"])

        async def resolved() -> bool:
            return await firing(http, stack) is None

        await eventually(resolved, "the alert resolving once the errors stop")
        async with failing(http):
            again = await eventually(lambda: firing(http, stack), "the next episode firing")
    assert (alert["id"], False) == (again["id"], again["acknowledged"])
    assert alert["since"] != again["since"]
