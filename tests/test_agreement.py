"""One table, two evaluators: Prometheus (promtool on the committed rules/) and the in-process evaluator
fire the same alerts at every evaluation time, and record the same signal values."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.monitoring.config import MonitoringConfig, load_monitoring
from exporter.monitoring.engine import AlertEngine
from exporter.sla.probes import ProbeCollector
from exporter.store import Store, open_store
from tests.support import promtool
from tests.support.agreement import Replay, promtool_test
from tests.support.helpers import ROOT, FakeClock
from tests.support.scenarios import SCENARIOS, STEP_MS, Scenario

MONITORING = load_monitoring(ROOT / "config")
RULES = str(ROOT / "rules" / "tenant-exporter.yml")


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/agreement.db")
    yield store
    await store.close()


def replay(scenario: Scenario, store: Store, monitoring: MonitoringConfig = MONITORING) -> Replay:
    registry, clock = CollectorRegistry(), FakeClock()
    probes = ProbeCollector(registry)
    engine = AlertEngine(registry, clock, lambda: monitoring, store)
    return Replay(scenario, engine, clock, registry, probes).run()


def test_scenarios_run_on_the_shipped_evaluation_interval() -> None:
    """The table's step is the shipped evaluation interval, so both sides evaluate at the same instants."""
    assert (STEP_MS, 300_000) == (MONITORING.evaluation_interval_ms, MONITORING.window_ms)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_in_process_evaluator_fires_what_the_table_expects(scenario: Scenario, sqlite_store: Store) -> None:
    """At every evaluation time the in-process evaluator's firing set is the table's."""
    result = replay(scenario, sqlite_store)
    expected = [sorted(scenario.expected(step)) for step in range(scenario.steps)]
    actual = [sorted(firing) for firing in result.firing]
    mismatches = [(f"{step * STEP_MS / 1000}s", e, a) for step, (e, a) in enumerate(zip(expected, actual, strict=True))
                  if e != a]
    assert [] == mismatches


@pytest.mark.promtool
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_prometheus_fires_what_the_table_expects_with_the_same_values(
    scenario: Scenario, sqlite_store: Store, tmp_path: Path
) -> None:
    """promtool, on the committed rules, fires the table's set at every step and records the evaluator's values."""
    result = replay(scenario, sqlite_store)
    test_file = promtool_test(scenario, result, MONITORING, RULES)
    run = promtool.test_rules(tmp_path / "agreement_test.yml", test_file)
    assert 0 == run.returncode, run.stdout[-6000:] + run.stderr[-2000:]


async def test_firing_alert_labels_are_the_rule_labels_plus_the_series(sqlite_store: Store) -> None:
    """A firing in-process alert carries severity, signal and the signal's series labels, as Prometheus's does."""
    scenario = next(s for s in SCENARIOS if s.id.startswith("failed probes"))
    result = replay(scenario, sqlite_store)
    step = 4 * 60_000 // STEP_MS
    assert {"UptimeLow": frozenset({("severity", "error"), ("signal", "uptime"), ("service", "api")})} \
        == result.firing[step]
