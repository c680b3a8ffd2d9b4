"""Helpers for SLA tests: configs that probe a TCP `cache` service (``tests/tcp_endpoint.py``; the
``cache`` fixture in conftest), and probing rounds that move the injected clock by one interval each."""

from __future__ import annotations

from pathlib import Path

from exporter.sla.probes import ProbeResult
from tests.support.helpers import TWO_TENANTS, make_config_dir
from tests.support.service import Service
from tests.support.tcp_endpoint import TcpEndpoint

INTERVAL = 600  # seconds: 10 minutes, so the background schedule never probes during a test


def sla_config(path: Path, port: int, *, extra_services: str = "", rules: str = "rules: []\n") -> Path:
    """The shipped files, with a monitoring.yml probing api, database and a TCP `cache` every 10 minutes."""
    monitoring = f"""version: 1
evaluation_interval: 15s
window: 5m
probes: {{interval: 10m, timeout: 2s}}
services:
  cache: {{type: tcp, address: "127.0.0.1:{port}", sla_target: 99%, title: Cache}}
{extra_services}sla:
  breach_min_failures: 2
  breach_min_duration: 30m
{rules}"""
    return make_config_dir(path, tenants=TWO_TENANTS, **{"monitoring.yml": monitoring})


def live_monitoring(cache_port: int, rules: str = "rules: []\n") -> str:
    """monitoring.yml for a live stack: evaluations, probes and a TCP `cache` service every second."""
    return f"""version: 1
evaluation_interval: 1s
window: 10s
probes: {{interval: 1s, timeout: 500ms}}
services:
  cache: {{type: tcp, address: "127.0.0.1:{cache_port}", sla_target: 99%, title: Cache}}
sla: {{breach_min_failures: 2, breach_min_duration: 1m, alert_min_events: 5}}
{rules}"""


async def rounds(service: Service, cache: TcpEndpoint, pattern: str) -> list[ProbeResult]:
    """One probing round per character ('+' cache up, '-' cache down), each one interval after the last."""
    out: list[ProbeResult] = []
    for state in pattern:
        await (cache.up() if state == "+" else cache.down())
        service.clock.advance(INTERVAL)
        out += await service.services.probes.run_once()
    return out
