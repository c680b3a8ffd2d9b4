"""Probes against real endpoints on loopback: HTTP status and timeouts, TCP connects, the database ping,
slow answers as degraded, the exported counters, the background schedule and reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.monitoring.services import ServiceConfig, SlaTarget
from exporter.sla.checks import Check, HttpCheck, TcpCheck
from exporter.sla.probes import ProbeCollector, ProbeResult, ProbeRunner
from tests.support.helpers import TWO_TENANTS, FakeClock, eventually, make_config_dir
from tests.support.service import ServiceFactory
from tests.support.service_process import free_port
from tests.support.tcp_endpoint import hang_up

TARGET = SlaTarget("99.9%", Decimal("0.999"))


def service(name: str, kind: str = "http", *, interval_ms: int = 15_000, timeout_ms: int = 2_000,
            degraded_above_ms: int | None = None, **extra: Any) -> ServiceConfig:
    return ServiceConfig(name, kind, name.title(), "", TARGET, interval_ms, timeout_ms,  # type: ignore[arg-type]
                         degraded_above_ms, **extra)


@pytest.fixture
async def endpoint(aiohttp_server: Any) -> str:
    """A real HTTP server: /ok (200), /down (503), /empty (204), /slow (200 after 0.3 s), /hang (10 s)."""
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503)

    async def empty(_: web.Request) -> web.Response:
        return web.Response(status=204)

    def sleeping(seconds: float) -> Callable[[web.Request], Any]:
        async def handler(_: web.Request) -> web.Response:
            await asyncio.sleep(seconds)
            return web.Response(text="late")
        return handler

    app = web.Application()
    app.add_routes([web.get("/ok", ok), web.get("/down", down), web.get("/empty", empty),
                    web.get("/slow", sleeping(0.3)), web.get("/hang", sleeping(10))])
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def probe(config: ServiceConfig, check: Check, clock: FakeClock | None = None) -> ProbeResult:
    runner = ProbeRunner(lambda: [config], lambda _: check, clock or FakeClock(), [])
    return await runner.probe(config, check)


HTTP_CASES = [("/ok", 200, True, "HTTP 200"), ("/down", 200, False, "HTTP 503"), ("/empty", 204, True, "HTTP 204"),
              ("/ok", 204, False, "HTTP 200")]


@pytest.mark.parametrize(("path", "expected", "success", "detail"), HTTP_CASES, ids=[
    "200 when 200 is expected succeeds", "503 fails", "204 when 204 is expected succeeds",
    "200 when 204 is expected fails"])
async def test_http_probe_succeeds_on_exactly_the_expected_status(endpoint: str, http: aiohttp.ClientSession,
                                                                  path: str, expected: int, success: bool,
                                                                  detail: str) -> None:
    """An HTTP probe GETs the URL and succeeds only on the expected status."""
    result = await probe(service("docs"), HttpCheck(endpoint + path, http, expected))
    assert (success, detail) == (result.success, result.detail)


async def test_a_slow_success_is_degraded_and_a_hang_is_a_timeout(endpoint: str, http: aiohttp.ClientSession) -> None:
    """An answer slower than degraded_above is a degraded success; no answer within the timeout is a failure."""
    slow = await probe(service("docs", degraded_above_ms=100), HttpCheck(endpoint + "/slow", http))
    hang = await probe(service("docs", timeout_ms=200), HttpCheck(endpoint + "/hang", http))
    assert ((True, True), (False, False, "no answer within 0.2s")) == (
        (slow.success, slow.degraded), (hang.success, hang.degraded, hang.detail))


async def test_tcp_probe_connects_or_reports_the_refusal() -> None:
    """A TCP probe succeeds against a listening port and fails, with the reason, against a closed one."""
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        up = await probe(service("cache", "tcp"), TcpCheck("127.0.0.1", port))
    finally:
        server.close()
        await server.wait_closed()
    down = await probe(service("cache", "tcp"), TcpCheck("127.0.0.1", free_port()))
    assert ((True, "connected"), False) == ((up.success, up.detail), down.success)
    assert down.detail.startswith("ConnectionRefusedError")


async def test_a_result_is_stamped_with_the_clock_and_weighted_by_the_interval(endpoint: str,
                                                                               http: aiohttp.ClientSession) -> None:
    """A result's time is the injected clock's now at the start and its weight the service's interval."""
    clock = FakeClock(wall=1_800_000_000.0)
    result = await probe(service("docs", interval_ms=30_000), HttpCheck(endpoint + "/ok", http), clock)
    assert (1_800_000_000.0, 30.0) == (result.at, result.weight_seconds)


def test_counters_total_every_result_and_its_time() -> None:
    """probes_total, probe_failures_total and the observed/downtime seconds add up every result, from zero."""
    registry = CollectorRegistry()
    collector = ProbeCollector(registry)
    collector.ensure(["api", "cache"])
    for success in (True, False, False):
        collector.record(ProbeResult("api", success, 0.01, at=1.0, weight_seconds=15.0))
    values = {name: registry.get_sample_value(name, {"service": "api"}) for name in (
        "tenant_exporter_probes_total", "tenant_exporter_probe_failures_total",
        "tenant_exporter_probe_observed_seconds_total", "tenant_exporter_probe_downtime_seconds_total",
        "tenant_exporter_probe_success")}
    assert {"tenant_exporter_probes_total": 3.0, "tenant_exporter_probe_failures_total": 2.0,
            "tenant_exporter_probe_observed_seconds_total": 45.0,
            "tenant_exporter_probe_downtime_seconds_total": 30.0, "tenant_exporter_probe_success": 0.0} == values
    assert 0.0 == registry.get_sample_value("tenant_exporter_probes_total", {"service": "cache"})


async def test_the_database_probe_pings_the_real_store(make_service: ServiceFactory) -> None:
    """The built-in database service pings the store (SQLite or PostgreSQL) and succeeds."""
    service = await make_service()
    results = {r.service: r for r in await service.services.probes.run_once()}
    backend = service.services.store.backend
    assert (True, f"{backend} answered") == (results["database"].success, results["database"].detail)


async def test_the_background_schedule_probes_each_service_every_interval() -> None:
    """run_forever probes a 1 s service again and again, starting one interval after the start."""
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seen: list[ProbeResult] = []
    config = service("cache", "tcp", interval_ms=1000, timeout_ms=500)
    runner = ProbeRunner(lambda: [config], lambda s: TcpCheck("127.0.0.1", port), FakeClock(), [seen.append])
    task = asyncio.create_task(runner.run_forever())
    try:
        for _ in range(100):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        server.close()
        await server.wait_closed()
    assert [True, True] == [r.success for r in seen[:2]]


async def test_a_new_service_is_probed_at_once_and_given_its_timeout_to_start() -> None:
    """run_forever probes a service as soon as it knows it (not an interval later), and while the
    service does not answer yet it tries again until the timeout: one that opens its port 0.3 s
    after the start is up, not down. That result stands for no time (weight 0)."""
    port = free_port()
    seen: list[ProbeResult] = []
    config = service("cache", "tcp", interval_ms=60_000, timeout_ms=3_000)
    runner = ProbeRunner(lambda: [config], lambda s: TcpCheck("127.0.0.1", port), FakeClock(), [seen.append])
    task = asyncio.create_task(runner.run_forever())
    await asyncio.sleep(0.3)
    server = await asyncio.start_server(hang_up, "127.0.0.1", port)
    try:
        await eventually(lambda: seen, "the first result", deadline=10)
    finally:
        task.cancel()
        server.close()
        await server.wait_closed()
    assert [("cache", True, 0.0)] == [(r.service, r.success, r.weight_seconds) for r in seen]


async def test_a_first_probe_that_never_gets_an_answer_is_down_after_the_timeout() -> None:
    """Nothing listens: the first probe retries for its 0.5 s timeout, then records the failure."""
    seen: list[ProbeResult] = []
    config = service("cache", "tcp", interval_ms=60_000, timeout_ms=500)
    runner = ProbeRunner(lambda: [config], lambda s: TcpCheck("127.0.0.1", free_port()), FakeClock(), [seen.append])
    task = asyncio.create_task(runner.run_forever())
    try:
        await eventually(lambda: seen, "the first result", deadline=10)
    finally:
        task.cancel()
    assert [(False, 0.0)] == [(r.success, r.weight_seconds) for r in seen]
    assert "Connect" in seen[0].detail or "refused" in seen[0].detail, seen[0].detail


async def test_a_reload_adds_a_service_to_probe(make_service: ServiceFactory, tmp_path: Path) -> None:
    """After monitoring.yml gains a TCP service and the config is reloaded, the next round probes it too."""
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS)
    service_ = await make_service(config_dir=config)
    assert ["api", "database"] == sorted(r.service for r in await service_.services.probes.run_once())
    text = (config / "monitoring.yml").read_text().replace(
        "services:\n", f"services:\n  cache: {{type: tcp, address: '127.0.0.1:{free_port()}', sla_target: 99%}}\n")
    (config / "monitoring.yml").write_text(text)
    async with service_.client.post("/-/reload", headers=await service_.headers("acme", "operator")) as r:
        assert 200 == r.status
    results = {r.service: r.success for r in await service_.services.probes.run_once()}
    assert {"api": True, "database": True, "cache": False} == results
