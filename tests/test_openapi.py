"""The OpenAPI description covers every route, and only routes that exist."""

from __future__ import annotations

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.app.composition import create_app
from exporter.http.openapi import UndocumentedRoute, build_spec
from exporter.settings import Settings
from tests.support.service import Service


@pytest.fixture
def database_url(tmp_path) -> str:
    """The spec does not depend on the store."""
    return f"sqlite:///{tmp_path}/openapi.db"


def routes_of(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
            if r.method not in ("HEAD", "*") and r.resource is not None}


async def test_every_route_is_described_and_every_description_is_a_route(service: Service) -> None:
    """GET /api/openapi.json lists exactly the app's routes, each with a summary and responses."""
    resp = await service.client.get("/api/openapi.json")
    assert 200 == resp.status
    spec = await resp.json()
    assert "3.1.0" == spec["openapi"]
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert routes_of(service.app) == described
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert op["responses"], (method, path)


async def test_authenticated_routes_document_auth_errors_and_ratelimit_headers(service: Service) -> None:
    """Protected operations describe 401/403/429 as problem+json and the RateLimit headers."""
    spec = await (await service.client.get("/api/openapi.json")).json()
    usage = spec["paths"]["/api/tenant/usage"]["put"]
    assert {"200", "400", "401", "403", "413", "415", "422", "429"} <= set(usage["responses"])
    assert "Retry-After" in usage["responses"]["429"]["headers"]
    assert "RateLimit-Policy" in usage["responses"]["200"]["headers"]
    assert {"$ref": "#/components/schemas/UsageReport"} == usage["requestBody"]["content"]["application/json"][
        "schema"]
    assert [] == spec["paths"]["/-/healthy"]["get"]["security"]
    assert "application/problem+json" in usage["responses"]["401"]["content"]


async def test_request_models_are_the_ones_handlers_validate_with(service: Service) -> None:
    """The UsageReport schema forbids unknown fields and negatives, as PUT /api/tenant/usage does."""
    spec = await (await service.client.get("/api/openapi.json")).json()
    report = spec["components"]["schemas"]["UsageReport"]
    assert report.get("additionalProperties") is False
    assert 0 == report["properties"]["storage_used_gb"]["anyOf"][0]["minimum"]


def test_a_route_without_a_description_is_refused(tmp_path, config_dir) -> None:
    """Adding a handler without a docstring and @operation makes the spec (and the start) fail."""
    app = create_app(Settings.from_env({}, config_dir=config_dir, database_url=f"sqlite:///{tmp_path}/x.db"),
                     registry=CollectorRegistry())

    async def secret(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/undocumented", secret)
    with pytest.raises(UndocumentedRoute, match="GET /api/undocumented"):
        build_spec(app)
