"""A restart is not amnesia: alerts keep their `since` and a firing one stays firing, the window comes back from
durable snapshots (a counter reset is a reset, as rate() sees it), and an acknowledgement never leaks into the
next episode. Every test moves a clock that jitters (15 s plus 0-3 s per evaluation), as a real one does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.monitoring import PROBE_RULES, config_with, jittered, tick
from tests.support.service import Service, ServiceFactory

ERROR_RULES = """version: 1
evaluation_interval: 15s
window: 5m
probes: {interval: 1h, timeout: 2s}
rules:
  - {name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 1m, severity: error,
     summary: High error rate}
"""


async def health(service: Service) -> dict:
    async with service.client.get("/api/monitoring/health", headers=await service.headers("acme")) as r:
        assert 200 == r.status
        return dict(await r.json())


async def alerts(service: Service) -> dict[str, dict]:
    async with service.client.get("/api/monitoring/alerts", headers=await service.headers("acme", "operator")) as r:
        return {a["rule"]: a for a in (await r.json())["alerts"]}


async def acknowledge(service: Service, alert_id: str) -> None:
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{alert_id}", json={"comment": "on it"},
                                   headers=await service.headers("acme", "operator")) as r:
        assert 200 == r.status


async def with_failed_probes(make_service: ServiceFactory, config: Path, rng: random.Random, failures: int, *,
                             after_success: bool = True) -> Service:
    """replica-a, with (one successful probe, then) ``failures`` failed ones on a jittering clock."""
    service = await make_service(config_dir=config, instance_id="replica-a")
    if after_success:
        await jittered(service, rng, probe=True)
    await jittered(service, rng, probe=False, times=failures)
    return service


async def restart(old: Service, make_service: ServiceFactory, config: Path, stopped: float, **settings: object,
                  ) -> Service:
    """Stop ``old`` cleanly, let ``stopped`` seconds pass, start the same replica again (it evaluates once at start)."""
    await old.client.close()
    old.clock.advance(stopped)
    return await make_service(config_dir=config, instance_id="replica-a", **settings)


async def test_a_firing_alert_is_firing_with_the_same_since_at_the_first_evaluation_after_a_restart(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """UptimeDown fires; 40 s after a stop the restarted service answers unhealthy at once, with the alert firing
    under the same id, since and fired_at, before any new probe."""
    rng, config = random.Random(1), config_with(tmp_path, PROBE_RULES)
    first = await with_failed_probes(make_service, config, rng, 7)
    before = (await alerts(first))["UptimeDown"]
    assert "firing" == before["state"]
    second = await restart(first, make_service, config, 40)
    after, answer = (await alerts(second))["UptimeDown"], await health(second)
    assert ("firing", before["id"], before["since"], before["fired_at"]) == (
        after["state"], after["id"], after["since"], after["fired_at"])
    assert ("unhealthy", ["UptimeDown", "UptimeDegraded"]) == (answer["status"],
                                                               [a["alertname"] for a in answer["alerts"]])


async def test_a_pending_alert_keeps_its_for_clock_across_a_restart(make_service: ServiceFactory,
                                                                    tmp_path: Path) -> None:
    """UptimeDown (for 1m) is pending when the service stops for 20 s: it fires one minute after it became
    pending, not one minute after the start."""
    rng, config = random.Random(2), config_with(tmp_path, PROBE_RULES)
    first = await with_failed_probes(make_service, config, rng, 2)
    pending = (await alerts(first))["UptimeDown"]
    assert "pending" == pending["state"]
    second = await restart(first, make_service, config, 20)
    started = second.clock.now()
    fired = None
    while fired is None:
        await jittered(second, rng, probe=False)
        shown = (await alerts(second))["UptimeDown"]
        fired = second.clock.now() if shown["state"] == "firing" else None
    since = second.services.alerting.get(pending["id"])
    assert since is not None and pending["since"] == shown["since"]
    assert since.active_at_ms / 1000 + 60 <= fired < since.active_at_ms / 1000 + 60 + 18.1  # the next evaluation
    assert fired < started + 60


async def test_an_error_burst_survives_a_restart_and_the_counter_reset_is_a_reset(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """Real requests, 1 in 6 answered 503: ErrorRateHigh fires; after a 30 s stop the restarted service shows the
    same error rate at once (the old snapshots plus a reset counter, as rate() reads them), the alert firing with
    its since, and it stays firing through the burst, never resolved in between."""
    rng, config = random.Random(3), config_with(tmp_path, ERROR_RULES)

    async def burst(service: Service, steps: int) -> list[str]:
        states = []
        for _ in range(steps):
            for path in ["/-/ready"] * 10 + ["/-/test/status/503"] * 2:
                async with service.client.get(path) as r:
                    await r.read()
            await jittered(service, rng)
            shown = service.services.alerting.alerts(include_resolved=True)
            states.append(shown[0].state.value if shown else "inactive")
        return states

    first = await make_service(config_dir=config, instance_id="replica-a", enable_test_routes=True)
    await burst(first, 8)
    before, rate_before = (await alerts(first))["ErrorRateHigh"], (await health(first))["error_rate"]
    second = await restart(first, make_service, config, 30, enable_test_routes=True)
    at_start = await health(second)
    assert (16.67, 16.67, "unhealthy", before["since"]) == (
        rate_before, at_start["error_rate"], at_start["status"], at_start["alerts"][0]["since"])
    assert ["firing"] * 25 == await burst(second, 25)  # 25 steps: the old snapshots have left the window


@pytest.mark.parametrize(("stopped", "after_start", "acknowledged_after"), [
    (20, "+" * 22 + "-" * 20, False),
    (6 * 60, "-" * 12, False),
    (2 * 3600, "-" * 12, False),
    (20, "-" * 3, True),
], ids=[
    "the episode goes on through the restart, ends after it, and the next episode is unacknowledged",
    "the episode ended while the service was stopped: the next one is unacknowledged",
    "beyond the outage tolerance the alert starts over, unacknowledged",
    "the same episode going on after the restart stays acknowledged",
])
async def test_an_acknowledgement_never_leaks_into_the_next_episode(
    make_service: ServiceFactory, tmp_path: Path, stopped: float, after_start: str, acknowledged_after: bool,
) -> None:
    """An operator acknowledges the firing UptimeDown; the service restarts; probes then go as ``after_start``
    says ('+' up, '-' down): the alert that fires at the end is acknowledged only if it is the same episode."""
    rng, config = random.Random(4), config_with(tmp_path, PROBE_RULES)
    first = await with_failed_probes(make_service, config, rng, 7)
    alert = (await alerts(first))["UptimeDown"]
    await acknowledge(first, alert["id"])
    second = await restart(first, make_service, config, stopped)
    for state in after_start:
        await jittered(second, rng, probe=state == "+")
    shown = (await alerts(second))["UptimeDown"]
    assert (alert["id"], "firing", acknowledged_after) == (shown["id"], shown["state"], shown["acknowledged"])
    assert (alert["since"] == shown["since"]) is acknowledged_after


async def test_another_replica_takes_over_the_alerts_only_in_a_fleet(make_service: ServiceFactory, tmp_path: Path,
                                                                    database_url: str) -> None:
    """On SQLite a replica with another instance id starts afresh: it does not take over the first one's alerts.
    On PostgreSQL the replicas are one fleet: the next evaluator goes on with the fleet's alerts (the first
    replica's uptime alert, labelled with its instance, firing since the same instant)."""
    rng, config = random.Random(5), config_with(tmp_path, PROBE_RULES)
    first = await with_failed_probes(make_service, config, rng, 7, after_success=False)
    before = (await alerts(first))["UptimeDown"]
    await first.client.close()
    other = await make_service(config_dir=config, instance_id="replica-b")
    if database_url.startswith("sqlite"):
        assert ({}, "healthy") == (await alerts(other), (await health(other))["status"])
    else:
        after = (await alerts(other))["UptimeDown"]
        assert ("replica-a", "firing", before["since"], "unhealthy") == (
            after["labels"]["instance"], after["state"], after["since"], (await health(other))["status"])


async def test_a_window_that_fills_with_a_jittery_clock_clears_what_ended_unwatched(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """A replica that starts without state of its own (another instance id) clears an acknowledgement whose alert
    is not active once its window has seen a whole window length, however the evaluations fall (the old check
    needed one to land exactly on the window's start)."""
    rng, config = random.Random(6), config_with(tmp_path, PROBE_RULES)
    first = await with_failed_probes(make_service, config, rng, 7, after_success=False)
    await acknowledge(first, (await alerts(first))["UptimeDown"]["id"])
    await first.client.close()
    fresh = await make_service(config_dir=config, instance_id="replica-b")
    open_after = []
    for _ in range(24):
        await jittered(fresh, rng, probe=True)
        open_after.append(len(await fresh.services.store.open_acknowledgements()))
    assert 0 == open_after[-1] and 1 == open_after[0]
    await tick(fresh, probe=False, times=12)
    assert False is (await alerts(fresh))["UptimeDown"]["acknowledged"]
