"""GET /metrics: formats, gzip, name[] filtering, protection, a separate port, no loop stall."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tests.support.metrics_helpers import value
from tests.support.service import Service
from tests.support.service_process import free_port

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def database_url(tmp_path) -> str:
    """Exposition does not depend on the store: these tests run on SQLite only."""
    return f"sqlite:///{tmp_path}/exposition.db"


async def traffic(service: Service) -> None:
    headers = await service.headers("acme")
    for path in ("/api/tenant/config", "/api/tenant/usage", "/api/tenant/feature/sso", "/nope"):
        await service.client.get(path, headers=headers)


async def test_text_format_by_default_and_openmetrics_when_asked(service: Service) -> None:
    """Without Accept the answer is text 0.0.4; with the OpenMetrics Accept it is OpenMetrics 1.0.0."""
    await traffic(service)
    plain = await service.client.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    om = await service.client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    body = await om.text()
    assert body.endswith("# EOF\n")
    assert "http_requests_total" in body  # the OpenMetrics counter family keeps its _total sample


async def test_gzip_when_accepted(service: Service) -> None:
    """Accept-Encoding: gzip gets a gzip body that decodes to the same exposition."""
    await traffic(service)
    resp = await service.client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "gzip" == resp.headers["Content-Encoding"]
    text = gzip.decompress(await resp.read()).decode()
    assert 1.0 == value(text, "http_requests_total", route="/api/tenant/config", tenant="acme")
    identity = await service.client.get("/metrics", headers={"Accept-Encoding": "identity"}, auto_decompress=False)
    assert "Content-Encoding" not in identity.headers


async def test_name_filter_returns_only_the_named_families(service: Service) -> None:
    """?name[]=... limits the answer to those metric names, custom collectors included."""
    await traffic(service)
    resp = await service.client.get("/metrics", params=[("name[]", "system_cpu_usage_ratio"),
                                                        ("name[]", "http_requests_in_flight")])
    names = {line.split("{")[0].split(" ")[0] for line in (await resp.text()).splitlines() if not line.startswith("#")}
    assert {"system_cpu_usage_ratio", "http_requests_in_flight"} == names


async def test_metrics_token_protects_the_endpoint(make_service) -> None:
    """With METRICS_TOKEN set, /metrics needs that bearer token."""
    service = await make_service(metrics_token="scrape-secret")
    assert 401 == (await service.client.get("/metrics")).status
    assert 401 == (await service.client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status
    assert 200 == (await service.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})).status


async def test_metrics_port_moves_metrics_off_the_public_listener(make_service) -> None:
    """With --metrics-port, /metrics answers there and not on the main port."""
    port = free_port()
    service = await make_service(metrics_port=port)
    assert 404 == (await service.client.get("/metrics")).status
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert 200 == resp.status
        assert value(await resp.text(), "process_resident_memory_bytes") is not None


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}],
                         ids=["no token on the metrics port is a 401", "a wrong token on the metrics port is a 401"])
async def test_metrics_port_with_a_token_refuses_with_a_problem_not_a_500(make_service, headers: dict) -> None:
    """With METRICS_PORT and METRICS_TOKEN (as the Kubernetes manifests run it), a scrape without the right
    token gets 401 problem+json with WWW-Authenticate, and the right token gets the exposition."""
    port = free_port()
    await make_service(metrics_port=port, metrics_token="scrape-secret")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
            body = await resp.json(content_type=None)
            assert (401, "application/problem+json", 'Bearer realm="metrics"', 401) == (
                resp.status, resp.content_type, resp.headers["WWW-Authenticate"], body["status"])
        right = {"Authorization": "Bearer scrape-secret"}
        async with http.get(f"http://127.0.0.1:{port}/metrics", headers=right) as ok:
            assert 200 == ok.status


class LargeCollector(Collector):
    """A family of 30,000 series: rendering it takes far longer than one request."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("large_thing", "A large family for tests.", labels=["n"])
        for n in range(30_000):
            family.add_metric([str(n)], n)
        yield family


async def test_concurrent_scrapes_share_one_rendering_off_the_loop(service: Service) -> None:
    """Ten scrapes at once cause one rendering, and other requests are answered while it runs."""
    service.registry.register(LargeCollector())
    renderer = service.services.renderer
    before = renderer.renders
    order: list[str] = []

    async def scrape() -> None:
        resp = await service.client.get("/metrics")
        assert 200 == resp.status
        await resp.read()
        order.append("metrics")

    async def health() -> None:
        while not renderer._inflight:  # noqa: ASYNC110 - polling the renderer's own state
            await asyncio.sleep(0)  # wait until the rendering is under way
        assert 200 == (await service.client.get("/-/healthy")).status
        order.append("healthy")

    await asyncio.gather(*(scrape() for _ in range(10)), health())
    assert 1 == renderer.renders - before
    assert "healthy" == order[0]


async def test_promtool_finds_no_problem_in_either_format(service: Service, tmp_path) -> None:
    """`promtool check metrics` accepts the exposition, with traffic of every kind recorded."""
    await traffic(service)
    await service.client.put("/api/tenant/usage", json={"cases_created": 3},
                             headers=await service.headers("acme", "service"))
    text = await (await service.client.get("/metrics")).text()
    result = await asyncio.to_thread(subprocess.run, ["promtool", "check", "metrics"], input=text,
                                     capture_output=True, text=True, check=False, timeout=30)
    assert (0, "", "") == (result.returncode, result.stdout, result.stderr)
