"""Helpers for monitoring tests: small monitoring.yml files, moving the clock through evaluations."""

from __future__ import annotations

import random
from pathlib import Path

from exporter.monitoring.fleet_engine import FleetEngine
from exporter.sla.probes import ProbeResult
from tests.support.helpers import TWO_TENANTS, make_config_dir
from tests.support.service import Service

# Rules on the probe signal only: the test decides every probe result, so it decides every alert.
PROBE_RULES = """version: 1
evaluation_interval: 15s
window: 5m
probes: {interval: 1h, timeout: 2s}
custom_metrics: {max_series_per_tenant: 3, max_series_total: 5, series_ttl: 10m}
rules:
  - name: UptimeDegraded
    signal: uptime
    operator: "<"
    threshold: 100%
    severity: warning
    summary: Some API probes fail
    runbook_url: https://runbooks.example.com/uptime
  - name: UptimeDown
    signal: uptime
    operator: "<"
    threshold: 50%
    for: 1m
    severity: error
    summary: Most API probes fail
"""


def replica_labels(service: Service) -> dict[str, str]:
    """What a per-replica signal's alert adds to its labels: its replica's ``instance`` in a fleet (PostgreSQL),
    where the evaluator sees every replica's series; nothing on SQLite, where the one replica sees its own."""
    engine = service.services.alerting
    return {"instance": engine.instance} if isinstance(engine, FleetEngine) else {}


def config_with(path: Path, monitoring: str) -> Path:
    return make_config_dir(path, tenants=TWO_TENANTS, **{"monitoring.yml": monitoring})


async def tick(service: Service, seconds: float = 15.0, *, probe: bool | None = None, times: int = 1) -> None:
    """Move the clock and evaluate, ``times`` times; record a probe result first when ``probe`` is given."""
    for _ in range(times):
        service.clock.advance(seconds)
        if probe is not None:
            service.services.probe_results.record(ProbeResult("api", probe, 0.001))
        await service.services.alerting.tick()


async def jittered(service: Service, rng: random.Random, *, probe: bool | None = None, times: int = 1,
                   interval: float = 15.0, jitter: float = 3.0) -> None:
    """``tick`` with a clock that jitters as a real one does: each step is the interval plus 0 to ``jitter`` s
    (plus sub-millisecond noise), so no evaluation lands exactly on the window's boundary."""
    for _ in range(times):
        await tick(service, interval + rng.uniform(0, jitter) + rng.random() / 1000, probe=probe)
