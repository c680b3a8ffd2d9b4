"""One alert state for the fleet, end to end: three replicas (real processes, real clocks) on one PostgreSQL. An
error burst sent through one replica, and a user seen by one replica, are seen by all three alike; the evaluating
replica killed with SIGKILL, another takes over within two evaluation intervals and keeps the firing alert as it
was."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.fleet import replicas, scrape
from tests.support.helpers import eventually, make_config_dir
from tests.support.service_process import ServiceProcess, sending

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

INTERVAL = 2.0
MONITORING = f"""version: 1
evaluation_interval: {INTERVAL:g}s
window: 20s
probes: {{interval: 1s, timeout: 1s}}
rules:
  - {{name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 2s, severity: error,
     summary: High error rate}}
"""


@pytest.fixture
def fleet(tmp_path: Path, postgres_url: str) -> Iterator[list[ServiceProcess]]:
    make_config_dir(tmp_path / "config", **{"monitoring.yml": MONITORING})
    processes = replicas(tmp_path, {"DATABASE_URL": postgres_url, "FLEET_POLL_INTERVAL": "0.2",
                                    "ENABLE_TEST_ROUTES": "true"}, 3)
    yield processes
    for p in processes:
        p.kill()
    for p in processes:
        assert "Traceback" not in p.log.read_text()


def failing(http: aiohttp.ClientSession, replica: ServiceProcess) -> contextlib.AbstractAsyncContextManager[None]:
    """500s through one replica, twenty a second, while inside."""
    return sending(http, replica.url + "/-/test/status/500", 0.05)


async def answers(http: aiohttp.ClientSession, replica: ServiceProcess, token: str) -> dict[str, Any]:
    """What a user sees on one replica: health, the alerts, the status page's components."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(replica.url + "/api/monitoring/health", headers=headers) as r:
        health = await r.json()
    async with http.get(replica.url + "/api/monitoring/alerts", headers=headers) as r:
        alerts = await r.json()
    async with http.get(replica.url + "/api/monitoring/status") as r:
        status = await r.json()
    return {
        "status": health["status"], "evaluator": health["evaluator"], "evaluated_at": health["evaluated_at"],
        "active_users": health["active_users"],
        "error_rate": health["error_rate"], "response_time": health["response_time"],
        "health_alerts": health["alerts"], "replicas": sorted(health["replicas"]),
        "alerts": [(a["id"], a["state"], a["since"], a["value"]) for a in alerts["alerts"]],
        "components": [(c["id"], c["status"]) for c in status["components"]],
    }


async def alike(http: aiohttp.ClientSession, fleet: list[ServiceProcess], token: str) -> dict[str, Any] | None:
    """The answer, if every replica gives the same one (asked in turn: retried when an evaluation falls between)."""
    seen = [await answers(http, p, token) for p in fleet]
    return seen[0] if all(s == seen[0] for s in seen) else None


async def evaluators(http: aiohttp.ClientSession, fleet: list[ServiceProcess]) -> list[float | None]:
    return [await scrape(http, p, "tenant_exporter_alert_evaluator") for p in fleet]


async def test_every_replica_answers_alike_and_a_killed_evaluator_is_replaced_within_two_intervals(
        fleet: list[ServiceProcess]) -> None:
    """An error burst through one replica: all three answer health, alerts and the status page identically, name
    the same evaluator (whose gauge is 1, the others' 0) and list all three replicas. SIGKILL the evaluator:
    within two evaluation intervals a survivor evaluates (fresh ``evaluated_at``), the alert keeps its id and
    ``since``, and the two survivors still answer alike."""
    operator = fleet[0].cli("keys", "create", "--tenant", "default-tenant", "--role", "operator").stdout.strip()
    viewer = fleet[0].cli("keys", "create", "--tenant", "default-tenant", "--role", "viewer").stdout.strip()
    for p in fleet:
        p.start()
    ids = [f"replica-{i}" for i in range(3)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        gauges = await eventually(lambda: _one_evaluator(http, fleet), "one evaluator", deadline=20)
        dead = fleet[gauges.index(1.0)]
        survivors = [p for p in fleet if p is not dead]
        async with failing(http, survivors[-1]):  # through a replica that does not evaluate
            async def fired() -> dict[str, Any] | None:
                async with http.get(fleet[1].url + "/api/tenant/config",
                                    headers={"Authorization": f"Bearer {viewer}"}) as r:
                    assert 200 == r.status  # a user that only replica-1 sees
                answer = await alike(http, fleet, operator)
                return answer if answer and answer["status"] == "unhealthy" and len(answer["replicas"]) == 3 \
                    else None

            before = await eventually(fired, "all three replicas unhealthy alike", deadline=40)
            [alert] = before["alerts"]
            assert 2 == before["active_users"]  # the operator asking, and the viewer only replica-1 saw
            assert [("ErrorRateHigh", "firing")] == [(a["alertname"], a["state"]) for a in before["health_alerts"]]
            assert (ids[fleet.index(dead)], ids) == (before["evaluator"]["instance"], before["replicas"])
            assert [1.0 if p is dead else 0.0 for p in fleet] == await evaluators(http, fleet)

            dead.kill()
            killed = time.time()

            async def replaced() -> dict[str, Any] | None:
                answer = await answers(http, survivors[0], operator)
                by, at = answer["evaluator"], answer["evaluated_at"]
                return answer if by and by["instance"] != before["evaluator"]["instance"] and at and \
                    _seconds(at) > killed else None

            after = await eventually(replaced, "another replica evaluating", deadline=20)
            took = time.time() - killed
            settled = await eventually(lambda: alike(http, survivors, operator), "the survivors alike", deadline=10)
            gauges_after = await evaluators(http, survivors)
    assert took <= 2 * INTERVAL, f"failover took {took:.2f} s"
    assert after["evaluator"]["instance"] in [ids[fleet.index(p)] for p in survivors]
    assert sorted(gauges_after) == [0.0, 1.0]
    [(alert_id, state, since, _)] = settled["alerts"]
    assert (alert[0], "firing", alert[2]) == (alert_id, state, since)


async def _one_evaluator(http: aiohttp.ClientSession, fleet: list[ServiceProcess]) -> list[float | None] | None:
    gauges = await evaluators(http, fleet)
    return gauges if sorted(g or 0.0 for g in gauges) == [0.0, 0.0, 1.0] else None


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
