"""Request telemetry as Prometheus sees it on /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import random
import string

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter.app.composition import PIPELINE
from exporter.http.openapi import operation
from exporter.telemetry.http_metrics import DURATION_BUCKETS
from tests.support.metrics_helpers import series, value
from tests.support.service import Service


@pytest.fixture
def database_url(tmp_path) -> str:
    """Telemetry does not depend on the store: these tests run on SQLite only."""
    return f"sqlite:///{tmp_path}/telemetry.db"


async def scrape(service: Service, **headers: str) -> str:
    resp = await service.client.get("/metrics", headers=headers)
    assert 200 == resp.status
    return await resp.text()


async def test_requests_are_counted_by_route_template_status_and_tenant(service: Service) -> None:
    """Labels carry the route template, the status and the catalog tenant (none before auth)."""
    headers = await service.headers("acme")
    sizes = []
    for name in ("sso", "nope", "ai_orchestration"):
        async with service.client.get(f"/api/tenant/feature/{name}", headers=headers) as r:
            sizes.append(len(await r.read()))
    await service.client.get("/api/tenant/config")  # 401
    text = await scrape(service)
    assert 3.0 == value(text, "http_requests_total", method="GET", route="/api/tenant/feature/{feature_name}",
                        status="200", tenant="acme")
    assert 1.0 == value(text, "http_requests_total", route="/api/tenant/config", status="401", tenant="none")
    route = {"method": "GET", "route": "/api/tenant/feature/{feature_name}"}
    assert (3.0, 3.0, 3.0, 0.0, float(sum(sizes))) == tuple(value(text, name, **route) for name in (
        "http_request_duration_seconds_count", "http_request_size_bytes_count", "http_response_size_bytes_count",
        "http_request_size_bytes_sum", "http_response_size_bytes_sum"))
    assert 3.0 == value(text, "http_response_size_bytes_bucket", le="+Inf", **route)
    assert value(text, "http_requests_total", route="/metrics") is None  # excluded by default


async def test_duration_buckets_have_edges_at_the_alert_thresholds() -> None:
    """The latency histogram has bucket edges at 0.5 s and 1 s (the warning and error thresholds)."""
    assert {0.5, 1.0} <= set(DURATION_BUCKETS)


async def test_random_paths_and_methods_do_not_create_series(service: Service) -> None:
    """10,000 requests to distinct random paths with odd methods leave the http_* series unchanged."""
    await service.client.get("/zzz/warmup")
    await service.client.request("PROPFIND", "/zzz/warmup")
    before = series(await scrape(service), "http_")
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        path = "/" + "".join(random.choices(string.ascii_lowercase + string.digits, k=16)) + f"/{i}"
        # methods the HTTP parser accepts but that are outside the standard set
        method = "GET" if i % 2 else random.choice(["PROPFIND", "MKCOL", "LOCK", "REPORT", "PURGE", "SEARCH"])
        async with sem:
            resp = await service.client.request(method, path)
            assert resp.status in (404, 405)
            await resp.release()

    await asyncio.gather(*(one(i) for i in range(10_000)))
    text = await scrape(service)
    assert before == series(text, "http_")
    assert 10_002 == value(text, "http_requests_total", route="__unmatched__")
    assert 5_001 == value(text, "http_requests_total", method="_OTHER")


async def test_label_sets_are_capped_with_an_overflow_counter(make_service) -> None:
    """Past METRICS_MAX_SERIES, new label sets go to __overflow__ and the overflow is counted."""
    service = await make_service(metrics_max_series=3)
    headers = await service.headers("acme")
    for path in ("/api/tenant/config", "/api/tenant/limits", "/api/tenant/usage", "/api/tenant/features",
                 "/api/tenant/compliance"):
        await service.client.get(path, headers=headers)
    text = await scrape(service)
    assert 2.0 == value(text, "http_requests_total", route="__overflow__", tenant="__overflow__")
    assert 2.0 == value(text, "tenant_exporter_metrics_series_overflow_total", metric="http_requests_total")
    assert 4 == len(series(text, "http_requests_total"))


async def test_each_capped_family_says_how_many_label_sets_it_holds_and_its_cap(make_service) -> None:
    """tenant_exporter_metrics_series{metric} counts each family's label sets (the overflow's included) and
    tenant_exporter_metrics_series_limit{metric} is METRICS_MAX_SERIES, so an alert can fire before the cap."""
    service = await make_service(metrics_max_series=4)
    headers = await service.headers("acme")
    before = await scrape(service)
    for path in ("/api/tenant/config", "/api/tenant/limits"):
        await service.client.get(path, headers=headers)
    middle = await scrape(service)
    for path in ("/api/tenant/usage", "/api/tenant/features", "/api/tenant/compliance"):
        await service.client.get(path, headers=headers)
    after = await scrape(service)
    held = [value(text, "tenant_exporter_metrics_series", metric="http_requests_total")
            for text in (before, middle, after)]
    assert (len(series(before, "http_requests_total")), len(series(middle, "http_requests_total")),
            len(series(after, "http_requests_total")), 4.0) == (
        *held, value(after, "tenant_exporter_metrics_series_limit", metric="http_requests_total"))
    assert 5.0 == held[-1]  # the cap, and __overflow__


async def test_exceptions_count_as_500_and_disconnects_as_499(aiohttp_client, database_url, config_dir, clock) -> None:
    """A handler that raises is counted 500 (and answered problem+json); a client gone is counted 499."""
    from prometheus_client import CollectorRegistry

    from exporter.app.composition import create_app
    from exporter.settings import Settings

    @operation(content_type="text/plain")
    async def boom(request: web.Request) -> web.Response:
        """A handler with a bug."""
        raise RuntimeError("bug")

    @operation(content_type="text/plain")
    async def slow(request: web.Request) -> web.Response:
        """A handler slower than the client's patience."""
        await asyncio.sleep(0.3)
        return web.Response(text="late")

    app = create_app(Settings.from_env({}, config_dir=config_dir, database_url=database_url),
                     registry=CollectorRegistry(), clock=clock)
    app[PIPELINE].add_routes([web.get("/boom", boom), web.get("/slow", slow)])
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert (500, "application/problem+json") == (resp.status, resp.content_type)
    with contextlib.suppress(TimeoutError):
        await client.get("/slow", timeout=aiohttp.ClientTimeout(total=0.05))
    await asyncio.sleep(0.5)
    text = await (await client.get("/metrics")).text()
    assert 1.0 == value(text, "http_requests_total", route="/boom", status="500")
    assert 1.0 == value(text, "http_requests_total", route="/slow", status="499")
    assert 0.0 == value(text, "http_requests_in_flight")


async def test_broken_instrumentation_never_changes_a_response(service: Service, monkeypatch) -> None:
    """If recording a metric fails, the answer is unchanged and the failure is counted."""
    headers = await service.headers("acme")
    registry = service.registry
    histogram = registry._names_to_collectors["http_request_duration_seconds"]

    def broken(*args, **kwargs):
        raise ValueError("label trouble")

    monkeypatch.setattr(histogram, "observe", broken)
    resp = await service.client.get("/api/tenant/limits", headers=headers)
    assert 200 == resp.status
    assert "enterprise" == (await resp.json())["plan"]
    monkeypatch.undo()
    assert 1.0 == registry.get_sample_value("tenant_exporter_instrumentation_errors_total")


async def test_usage_and_limits_per_tenant_are_exported(service: Service) -> None:
    """Usage and limit gauges per tenant and resource, in base units, the limit with its enforcement:
    eight series per tenant, and no ratio or threshold families (usage / limit in PromQL)."""
    headers = await service.headers("globex", "service")
    await service.client.put("/api/tenant/usage", json={"storage_used_gb": 4.5, "cases_created": 60}, headers=headers)
    await service.services.usage.flush()
    service.services.usage_metrics.mark(service.services.usage.take_changed())
    await service.services.usage_metrics.refresh(service.services.config.current.catalog, service.services.usage)
    text = await scrape(service)
    assert 4.5e9 == value(text, "tenant_exporter_storage_used_bytes", tenant="globex")
    assert 5e9 == value(text, "tenant_exporter_storage_limit_bytes", tenant="globex", enforcement="hard")
    assert 60.0 == value(text, "tenant_exporter_cases", tenant="globex")
    assert 1.0 == value(text, "tenant_exporter_api_calls_this_month", tenant="globex")
    assert 250000.0 == value(text, "tenant_exporter_cases_limit", tenant="acme", enforcement="hard")
    assert 5e7 == value(text, "tenant_exporter_api_calls_monthly_limit", tenant="acme", enforcement="soft")
    per_tenant = [s for f in text_string_to_metric_families(text) for s in f.samples
                  if s.labels.get("tenant") == "globex" and s.name.startswith("tenant_exporter_")
                  and not s.name.startswith("tenant_exporter_custom")]
    assert 8 == len(per_tenant), per_tenant
    assert "tenant_exporter_quota_usage_ratio" not in text
    assert "tenant_exporter_quota_threshold_reached" not in text


async def test_build_info_reload_and_resource_families_exist(service: Service) -> None:
    """Build info, config reload state, process, host CPU/memory and loop lag are exported."""
    text = await scrape(service)
    assert 1.0 == value(text, "tenant_exporter_build_info")
    assert 1.0 == value(text, "tenant_exporter_config_last_reload_successful")
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "system_cpu_usage_ratio",
                 "system_memory_usage_ratio", "tenant_exporter_event_loop_lag_seconds_count", "process_threads"):
        assert value(text, name) is not None, name
    assert 0.0 <= value(text, "system_memory_usage_ratio") <= 1.0


async def test_failed_reload_is_visible_as_a_metric(service: Service, config_dir) -> None:
    """A reload with a broken file sets tenant_exporter_config_last_reload_successful to 0, then 1 again."""
    plans = config_dir / "plans.yml"
    good = plans.read_text()
    plans.write_text(good.replace("version: 1", "version: 7", 1))
    operator = await service.headers("acme", "operator")
    assert 400 == (await service.client.post("/-/reload", headers=operator)).status
    assert 0.0 == value(await scrape(service), "tenant_exporter_config_last_reload_successful")
    plans.write_text(good)
    assert 200 == (await service.client.post("/-/reload", headers=operator)).status
    assert 1.0 == value(await scrape(service), "tenant_exporter_config_last_reload_successful")
