"""End to end: slow, then failing traffic; /api/monitoring/health goes degraded, then unhealthy, and the
real Prometheus, loading the rules `rules generate` wrote from the same monitoring.yml, fires the same alerts."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import promtool
from tests.support.helpers import make_config_dir
from tests.support.prometheus_process import PrometheusProcess
from tests.support.service_process import ServiceProcess, keep_sending

pytestmark = [pytest.mark.e2e, pytest.mark.promtool]

# The shipped rules with short windows, so the test runs in seconds. CPU and memory cannot exceed 100 %:
# the test machine's own load must not decide the outcome.
E2E_MONITORING = """version: 1
evaluation_interval: 1s
window: 10s
probes: {interval: 1s, timeout: 1s}
rules:
  - {name: ResponseTimeCritical, signal: response_time, operator: ">", threshold: 1000ms, for: 2s,
     severity: error, summary: Very slow responses}
  - {name: ErrorRateHigh, signal: error_rate, operator: ">", threshold: 5%, for: 2s, severity: error,
     summary: High error rate}
  - {name: UptimeLow, signal: uptime, operator: "<", threshold: 99%, for: 2s, severity: error, summary: Low uptime}
  - {name: UptimeNoData, signal: uptime, operator: absent, for: 1m, severity: error, summary: No uptime data}
  - {name: ResponseTimeWarning, signal: response_time, operator: ">", threshold: 500ms, for: 2s,
     severity: warning, summary: Slow responses}
  - {name: CpuUsageHigh, signal: cpu, operator: ">", threshold: 100%, for: 2s, severity: warning,
     summary: High CPU usage}
  - {name: MemoryUsageHigh, signal: memory, operator: ">", threshold: 100%, for: 2s, severity: warning,
     summary: High memory usage}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[ServiceProcess, PrometheusProcess]]:
    make_config_dir(tmp_path / "config", **{"monitoring.yml": E2E_MONITORING})
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db", "ENABLE_TEST_ROUTES": "true",
                                        "SYSTEM_SAMPLE_INTERVAL": "0.5"})
    generated = service.cli("rules", "generate", "--config-dir", str(tmp_path / "config"),
                            "--rules-dir", str(tmp_path / "rules"))
    assert 0 == generated.returncode, generated.stderr
    rule_file = tmp_path / "rules" / "tenant-exporter.yml"
    checked = promtool.run("check", "rules", str(rule_file))
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    prometheus = PrometheusProcess(tmp_path, [f"127.0.0.1:{service.port}"], rule_files=[rule_file])
    try:
        yield service, prometheus
    finally:
        prometheus.stop()
        service.kill()


async def both_fire(service: ServiceProcess, prometheus: PrometheusProcess, http: aiohttp.ClientSession,
                    expected: set[tuple[str, str]], status: str, deadline: float = 40.0) -> None:
    """Wait until /health shows ``status`` with exactly ``expected`` firing, and Prometheus fires the same set."""
    ours: set[tuple[str, str]] = set()
    theirs: set[tuple[str, str]] = set()
    health: dict = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        async with http.get("/api/monitoring/health") as r:
            health = await r.json()
        ours = {(a["alertname"], a["severity"]) for a in health["alerts"]}
        alerts = (await asyncio.to_thread(prometheus.api, "/api/v1/alerts") or {}).get("data", {}).get("alerts", [])
        theirs = {(a["labels"]["alertname"], a["labels"]["severity"]) for a in alerts if a["state"] == "firing"}
        if (status, expected, expected) == (health["status"], ours, theirs):
            return
        await asyncio.sleep(0.5)
    assert (status, expected, expected) == (health.get("status"), ours, theirs), health


async def test_slow_then_failing_service_degrades_then_turns_unhealthy_in_both_evaluators(
    stack: tuple[ServiceProcess, PrometheusProcess],
) -> None:
    """Slow answers fire the warning (degraded) and then 500s fire the error (unhealthy), in-process and in
    Prometheus alike; the live /metrics, alert state and custom metrics included, passes promtool."""
    service, prometheus = stack
    token = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "admin").stdout.strip()
    service.start()
    prometheus.start()
    auth = {"Authorization": f"Bearer {token}"}
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(service.url, headers=auth) as http:
        try:
            tasks += [asyncio.create_task(keep_sending(http, "/api/tenant/config", 0.05)) for _ in range(2)]
            prometheus.wait_for('up{job="tenant-exporter"}', lambda v: v == 1.0)
            await both_fire(service, prometheus, http, set(), "healthy")

            # ~15 requests a second take 0.55 s: p95 in the (0.5, 0.75] bucket, above 500 ms, below 1000 ms
            tasks += [asyncio.create_task(keep_sending(http, "/-/test/sleep?seconds=0.55", 0)) for _ in range(8)]
            await both_fire(service, prometheus, http, {("ResponseTimeWarning", "warning")}, "degraded")

            # and now ~10 a second fail: well above 5 % of all requests
            tasks += [asyncio.create_task(keep_sending(http, "/-/test/status/500", 0.1))]
            await both_fire(service, prometheus, http,
                            {("ResponseTimeWarning", "warning"), ("ErrorRateHigh", "error")}, "unhealthy")

            async with http.post("/api/monitoring/metrics/custom",
                                 json={"name": "case_processing_time", "value": 234, "tags": {"case_type": "fraud"}},
                                 ) as r:
                assert 200 == r.status
            async with http.get("/metrics") as r:
                exposition = await r.text()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    lint = await asyncio.to_thread(subprocess.run, [promtool.PROMTOOL, "check", "metrics"], input=exposition,
                                   capture_output=True, text=True, check=False)
    assert (0, "") == (lint.returncode, lint.stdout + lint.stderr)
    for family in ('tenant_exporter_alert_state{alertname="ErrorRateHigh",severity="error",state="firing"} 1',
                   'tenant_exporter_custom_case_processing_time{case_type="fraud",tenant="default-tenant"} 234',
                   'tenant_exporter_probe_success{service="api"} 1'):
        assert family in exposition
    assert 0 == service.stop()
