"""A real Prometheus scrapes the real service: the traffic sent is the traffic it sees."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.helpers import make_config_dir
from tests.support.prometheus_process import PrometheusProcess
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[ServiceProcess, PrometheusProcess]]:
    make_config_dir(tmp_path / "config")
    service = ServiceProcess(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db", "ENABLE_TEST_ROUTES": "true",
                                        "SYSTEM_SAMPLE_INTERVAL": "0.5"})
    prometheus = PrometheusProcess(tmp_path, [f"127.0.0.1:{service.port}"])
    try:
        yield service, prometheus
    finally:
        prometheus.stop()
        service.kill()


async def send(http: aiohttp.ClientSession, path: str, n: int, headers: dict[str, str] | None = None) -> list[int]:
    async def one() -> int:
        async with http.get(path, headers=headers) as r:
            await r.read()
            return r.status

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_prometheus_sees_rates_latency_cpu_and_memory(stack: tuple[ServiceProcess, PrometheusProcess]) -> None:
    """up == 1; request counts, the 5xx ratio and the p99 of a slow route match what was sent."""
    service, prometheus = stack
    token = service.cli("keys", "create", "--tenant", "default-tenant", "--role", "viewer").stdout.strip()
    service.start()
    prometheus.start()
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(service.url) as http:
        # one of each first, so every series exists before the measured traffic
        await send(http, "/api/tenant/config", 1, auth)
        await send(http, "/-/test/status/503", 1)
        await send(http, "/-/test/sleep?seconds=0.6", 1)
        await send(http, "/no/such/path", 1)
        prometheus.wait_for('up{job="tenant-exporter"}', lambda v: v == 1.0)
        prometheus.wait_for('count(http_requests_total{route="/-/test/sleep"})', lambda v: v == 1.0)
        await asyncio.sleep(1.5)
        assert [200] * 60 == await send(http, "/api/tenant/config", 60, auth)
        assert [503] * 20 == await send(http, "/-/test/status/503", 20)
        assert [404] * 20 == await send(http, "/no/such/path", 20)
        assert [200] * 10 == await send(http, "/-/test/sleep?seconds=0.6", 10)

    total = prometheus.wait_for('sum(http_requests_total{route="/api/tenant/config",status="200"})',
                                lambda v: v == 61.0)
    assert 61.0 == total
    await asyncio.sleep(1.5)  # one more scrape, so the window holds samples on both sides of the traffic
    window = "30s"
    error_ratio = prometheus.value(f'sum(rate(http_requests_total{{status=~"5.."}}[{window}])) / '
                                   f'sum(rate(http_requests_total[{window}]))')
    # rate() extrapolates each series towards the window's edges (capped where a counter would reach
    # zero), so the ratio is the sent 20/110 up to a few per cent, not exactly
    assert 20 / 110 == pytest.approx(error_ratio, rel=0.05)
    assert prometheus.value(f'sum(rate(http_requests_total{{route="/api/tenant/config"}}[{window}]))') > 0
    p99 = prometheus.value(f'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket'
                           f'{{route="/-/test/sleep"}}[{window}])))')
    assert 0.5 < p99 <= 0.75  # 0.6 s sleeps land in the (0.5, 0.75] bucket
    for series in ("system_cpu_usage_ratio", "system_memory_usage_ratio", "process_resident_memory_bytes",
                   "process_cpu_seconds_total"):
        assert prometheus.query(series), series
    assert 0.0 < prometheus.value("system_memory_usage_ratio") < 1.0
    assert 0 == service.stop()
