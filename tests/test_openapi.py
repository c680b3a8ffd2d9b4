"""The OpenAPI description covers every route, and only routes that exist."""

from __future__ import annotations

from collections import Counter

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from exporter.app.composition import create_app
from exporter.http.openapi import UndocumentedRoute, build_spec, operation
from exporter.settings import Settings
from tests.support.service import Service, ServiceFactory


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


@pytest.mark.parametrize("test_routes", [False, True], ids=["the shipped routes pass the validator",
                                                            "with ENABLE_TEST_ROUTES, they still pass"])
async def test_the_document_passes_openapi_spec_validator(make_service: ServiceFactory, test_routes: bool) -> None:
    """openapi-spec-validator accepts the served document: unique operationIds, valid schemas and references."""
    service = await make_service(enable_test_routes=test_routes)
    spec = await (await service.client.get("/api/openapi.json")).json()
    validate(spec)  # raises on the first error
    ids = Counter(op["operationId"] for ops in spec["paths"].values() for op in ops.values())
    assert [] == [name for name, n in ids.items() if n > 1]


async def test_both_audit_list_paths_are_operations_of_their_own(service: Service) -> None:
    """/api/audit-logs/ (the seed's) and /api/audit-logs are two operations, so a generated client keeps both."""
    spec = await (await service.client.get("/api/openapi.json")).json()
    assert ("list_events", "list_events_unslashed") == (spec["paths"]["/api/audit-logs/"]["get"]["operationId"],
                                                        spec["paths"]["/api/audit-logs"]["get"]["operationId"])


@pytest.mark.parametrize(("overrides", "url"), [({}, "/"), ({"public_base_url": "https://api.example.com/"},
                                                              "https://api.example.com")],
                         ids=["without PUBLIC_BASE_URL the server is relative to the document",
                              "with PUBLIC_BASE_URL the server is that URL"])
async def test_servers_name_where_requests_go(make_service: ServiceFactory, overrides: dict, url: str) -> None:
    """The document has one `servers` entry: PUBLIC_BASE_URL when set, else `/`."""
    service = await make_service(**overrides)
    spec = await (await service.client.get("/api/openapi.json")).json()
    assert [{"url": url, "description": "this service"}] == spec["servers"]


@pytest.mark.parametrize(("enabled", "expected"), [(False, []), (True, ["/-/test/sleep", "/-/test/status/{code}"])],
                         ids=["test routes are left out by default", "ENABLE_TEST_ROUTES puts them in"])
async def test_test_routes_are_described_only_when_enabled(make_service: ServiceFactory, enabled: bool,
                                                           expected: list[str]) -> None:
    """The fault-injection routes appear in the document only when ENABLE_TEST_ROUTES serves them."""
    service = await make_service(enable_test_routes=enabled)
    spec = await (await service.client.get("/api/openapi.json")).json()
    assert expected == sorted(path for path in spec["paths"] if path.startswith("/-/test/"))


def test_two_operations_with_one_operation_id_are_refused(tmp_path, config_dir) -> None:
    """A handler registered under a second path (the same operationId) makes the spec (and the start) fail."""
    app = create_app(Settings.from_env({}, config_dir=config_dir, database_url=f"sqlite:///{tmp_path}/x.db"),
                     registry=CollectorRegistry())

    @operation()
    async def healthy(request: web.Request) -> web.Response:
        """Another handler named like GET /-/healthy's."""
        return web.Response()

    app.router.add_get("/api/also-healthy", healthy)
    with pytest.raises(UndocumentedRoute, match="share operationId 'healthy'"):
        build_spec(app)
