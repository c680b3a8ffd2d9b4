"""Two replicas, one evaluator: the in-process evaluation over both replicas' snapshots (read back from the
store) is what Prometheus computes from both targets with the committed rules (promtool), and the replica
that does not evaluate serves exactly the evaluator's alerts and figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter.monitoring.active_users import ActiveUsers
from exporter.monitoring.alerts import AlertState
from exporter.monitoring.fleet_engine import FleetEngine
from exporter.monitoring.promql import prom_round
from exporter.monitoring.signals import SIGNALS
from exporter.rulegen.prometheus import decimal_literal
from exporter.sla.probes import ProbeCollector
from exporter.store import Store, open_store
from tests.support import promtool
from tests.support.agreement import Replay, input_series
from tests.support.helpers import FakeClock
from tests.support.scenarios import JOB, STEP_MS, Phase, Requests, Scenario
from tests.test_agreement import MONITORING, RULES

A, B = "replica-a:8000", "replica-b:8000"
# A answers 10 % errors for 10 minutes; B nearly three times A's traffic without errors, at 90 % CPU for 15 minutes
BURST = Scenario("a burst on A", (Phase("10m", (Requests(18), Requests(2, status=500))), Phase("18m", (Requests(20),))))
# (59, not 60: the ratios stay off the half-way points of rounding, where the order of float additions decides)
BUSY = Scenario("B busy", (Phase("15m", (Requests(59),), cpu=0.9), Phase("18m", (Requests(59),), cpu=0.1)))


@pytest.fixture
async def shared_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/fleet.db")
    yield store
    await store.close()


def _replica(scenario: Scenario, instance: str, store: Store) -> tuple[Replay, FleetEngine]:
    registry, clock = CollectorRegistry(), FakeClock()
    probes = ProbeCollector(registry)
    engine = FleetEngine(registry, clock, lambda: MONITORING, store, instance=instance,
                         probes=lambda: probes.latest)
    replay = Replay(scenario, engine, clock, registry, probes)
    replay.prepare()
    return replay, engine


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


async def test_one_evaluator_over_both_replicas_agrees_with_prometheus(shared_store: Store, tmp_path: Path) -> None:
    """At every step: the evaluator's firing alerts and recorded values are promtool's over both targets, the
    fleet's error rate is the summed one (A's burst alone would fire, diluted by B's traffic it does not), CPU
    alerts are per replica, and the follower answers exactly what the evaluator does."""
    (ra, a), (rb, b) = _replica(BURST, A, shared_store), _replica(BUSY, B, shared_store)
    alert_tests: list[dict[str, Any]] = []
    expr_tests: list[dict[str, Any]] = []
    error_rates: list[float] = []
    for step in range(BURST.steps):
        ra.advance(step)
        rb.advance(step)
        if step == 0:
            await a.tick()  # A takes the free lease
        await b.tick()  # the follower writes its snapshot first ...
        await a.tick()  # ... the evaluator reads it, evaluates both replicas, publishes
        await b.follow_once()  # ... and the follower takes the published evaluation
        assert (a.leading, b.leading, a.evaluated_by(), b.evaluated_by()) == (True, False, b.evaluated_by(),
                                                                             b.evaluated_by())
        assert a.latest is not None and b.latest is not None
        assert (a.latest.t_ms, a.latest.view) == (b.latest.t_ms, b.latest.view)
        assert [(x.id, x.state, x.value) for x in a.alerts(include_resolved=True)] == \
            [(x.id, x.state, x.value) for x in b.alerts(include_resolved=True)]

        at = f"{step * STEP_MS // 1000}s"
        firing: dict[str, list[dict[str, str]]] = {rule.name: [] for rule in MONITORING.rules}
        for alert in a.alerts():
            if alert.state is AlertState.FIRING:
                labels = {k: v for k, v in alert.labels.items() if k != "alertname"}
                firing[alert.rule.name].append({**labels, **({"job": JOB} if alert.rule.operator != "absent" else {})})
        for rule in MONITORING.rules:
            alert_tests.append({"eval_time": at, "alertname": rule.name, "exp_alerts": [
                {"exp_labels": labels, "exp_annotations": rule.annotations} for labels in firing[rule.name]]})
        for name, signal in SIGNALS.items():
            precision = float(signal.unit.precision)
            samples = [{"labels": _labels({"job": JOB, **dict(labels)}), "value": prom_round(value, precision)}
                       for labels, value in a.latest.signals[name].items()]
            expr = f"round({signal.record_name(MONITORING.window)}, {decimal_literal(signal.unit.precision)})"
            expr_tests.append({"expr": expr, "eval_time": at, "exp_samples": samples})
        error_rates.extend(a.latest.signals["error_rate"].values())

    fired = {alert_test["alertname"] for alert_test in alert_tests if alert_test["exp_alerts"]}
    assert "ErrorRateHigh" not in fired and max(error_rates) == pytest.approx(2 / 79, abs=1e-3)
    cpu = [t["exp_alerts"] for t in alert_tests if t["alertname"] == "CpuUsageHigh" and t["exp_alerts"]]
    assert cpu and all([x["exp_labels"]["instance"] for x in alerts] == [B] for alerts in cpu)

    test_file = {
        "rule_files": [RULES], "evaluation_interval": f"{STEP_MS // 1000}s",
        "tests": [{"name": "two replicas", "interval": f"{STEP_MS // 1000}s",
                   "input_series": input_series(BURST, A) + input_series(BUSY, B),
                   "alert_rule_test": alert_tests, "promql_expr_test": expr_tests}],
    }
    run = promtool.test_rules(tmp_path / "fleet_test.yml", test_file)
    assert 0 == run.returncode, run.stdout[-6000:] + run.stderr[-2000:]


async def test_active_users_are_counted_over_every_replica(shared_store: Store) -> None:
    """Keys seen by either replica count once each, on both replicas, and leave the count with the window."""
    engines, users, clocks = [], [], []
    for instance in (A, B):
        registry, clock = CollectorRegistry(), FakeClock()
        seen = ActiveUsers(clock)
        engines.append(FleetEngine(registry, clock, lambda: MONITORING, shared_store, instance=instance,
                                   recent_keys=seen.take_recent))
        users.append(seen)
        clocks.append(clock)
    a, b = engines

    async def step(seconds: float) -> None:
        for clock in clocks:
            clock.advance(seconds)
        await b.tick()  # the follower's snapshot first, then the evaluator reads it
        await a.tick()
        await b.follow_once()

    await a.tick()  # A takes the lease
    await step(1)
    users[0].seen("acme", "key_1")
    users[0].seen("globex", "key_9")
    users[1].seen("acme", "key_1")  # the same key through the other replica: one user
    users[1].seen("acme", "key_2")
    await step(15)
    assert a.active_users() == b.active_users() == {"acme": ["key_1", "key_2"], "globex": ["key_9"]}
    await step(MONITORING.window_ms / 1000 + 30)  # nobody since: they leave with the window
    assert a.active_users() == b.active_users() == {}
