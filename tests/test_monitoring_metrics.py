"""/api/monitoring/metrics from the real request telemetry's families, and the metric contract the
signals rely on (names, labels, buckets with edges at both response-time thresholds)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from exporter.monitoring.signals import DURATION_BUCKETS, REQUESTS
from exporter.telemetry.http_metrics import DURATION_BUCKETS as TELEMETRY_BUCKETS
from exporter.telemetry.http_metrics import HttpMetrics
from tests.support.monitoring import tick
from tests.support.scenarios import BUCKETS
from tests.support.service import ServiceFactory


def test_the_telemetry_families_are_the_ones_the_signals_read() -> None:
    """http_requests_total{method,route,status,tenant} and the duration histogram (edges at 0.5 s and 1 s)
    are registered under the names the signals snapshot; the agreement table uses the same buckets."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    metrics.observe("GET", "/x", 200, "acme", 0.7, 0, 0)
    samples = {s.name: s.labels for family in registry.collect() for s in family.samples}
    assert {"method", "route", "status", "tenant"} == set(samples[REQUESTS])
    assert {"method", "route", "le"} == set(samples[DURATION_BUCKETS])
    assert (BUCKETS, True, True) == (TELEMETRY_BUCKETS, 0.5 in TELEMETRY_BUCKETS, 1.0 in TELEMETRY_BUCKETS)


async def test_metrics_per_route_from_real_requests(make_service: ServiceFactory) -> None:
    """After real requests, /metrics gives rps, error rate, average and percentiles, overall and per route."""
    service = await make_service(enable_test_routes=True)
    headers = await service.headers("acme")

    async def batch() -> None:
        for _ in range(5):
            async with service.client.get("/api/tenant/limits", headers=headers) as r:
                assert 200 == r.status
        async with service.client.get("/-/test/status/500") as r:
            assert 500 == r.status

    await batch()
    await tick(service)  # the series exist from here
    await batch()
    await tick(service)
    async with service.client.get("/api/monitoring/metrics", headers=headers) as r:
        body = await r.json()
    routes = {(x["method"], x["route"]): x for x in body["routes"]}
    assert {("GET", "/api/tenant/limits"), ("GET", "/-/test/status/{code}")} <= set(routes)
    # each series doubled between the two evaluations, so rate() extrapolates them alike: 1 in 6 failed
    assert (16.67, 0.0, 100.0) == (body["error_rate"], routes["GET", "/api/tenant/limits"]["error_rate"],
                                   routes["GET", "/-/test/status/{code}"]["error_rate"])
    latency = body["response_time"]
    assert all(latency[k] is not None and latency[k] >= 0 for k in ("average", "p50", "p95", "p99"))
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert body["requests_per_second"] > 0
    assert 0 <= body["cpu_usage"] <= 100 and 0 < body["memory_usage"] <= 100
