"""Tenant isolation as a class: nothing one tenant (or an operator) does shows up in what another tenant reads.

globex's keys and an operator leave traces everywhere they can (an acknowledgement with a comment,
custom metrics with tags, usage reports, audited changes, failed logins); then every route that acme's
keys may read is called with each of acme's roles, and no answer may name globex, its keys, the
operator's key or the comment. New routes are covered as they are added: the list comes from the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from exporter.http.caller import required_roles
from tests.support.monitoring import PROBE_RULES, config_with, tick
from tests.support.service import Service, ServiceFactory

# a value for each path parameter of the routes a tenant reads
PATH_VALUES = {"feature_name": "audit_log", "feature_path": "cases/1", "key": "audit_log", "service": "api",
               "alert_id": "0123456789abcdef"}
# routes left out, and why
NOT_TENANT_DATA = {
    "/metrics": "the Prometheus exposition lists every tenant by design; METRICS_TOKEN or METRICS_PORT guard it",
    "/{path}": "the catch-all answers 404/405 only",
}
SECRET_COMMENT = "globex-ops-secret-comment"


def tenant_readable_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every GET route, and OFREP's read-only POSTs, with path parameters filled in."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template is None or template in NOT_TENANT_DATA:
            continue
        readable = route.method == "GET" or template.startswith("/ofrep/v1/evaluate")
        roles = required_roles(route.handler)
        if readable and (roles is None or roles & {"viewer", "service", "admin"}):
            found.append((route.method, template.format(**PATH_VALUES)))
    return sorted(set(found))


async def leave_traces_as_globex(service: Service) -> list[str]:
    """Everything globex and an operator can do that is remembered; returns the strings that identify them."""
    admin, svc = await service.headers("globex", "admin"), await service.headers("globex", "service")
    operator = await service.headers("globex", "operator")
    await tick(service, probe=False, times=2)
    alert_id = service.services.alerting.alerts()[0].id
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{alert_id}",
                                   json={"comment": SECRET_COMMENT}, headers=operator) as r:
        assert 200 == r.status
    async with service.client.post("/api/monitoring/metrics/custom", headers=admin,
                                   json={"name": "globex_orders", "value": 3, "tags": {"shop": "globex-shop"}}) as r:
        assert 200 == r.status
    async with service.client.put("/api/tenant/usage", json={"storage_used_gb": 7}, headers=svc) as r:
        assert 200 == r.status
    async with service.client.get("/api/tenant/config", headers={"Authorization": "Bearer tex_wrong"}) as r:
        assert 401 == r.status
    records = await service.services.store.list_api_keys("globex")
    return ["globex", "Globex", SECRET_COMMENT, *(r.id for r in records)]


@pytest.mark.parametrize("role", ["viewer", "service", "admin"])
async def test_no_answer_to_a_tenant_names_another_tenant_or_an_operator(
    make_service: ServiceFactory, tmp_path: Path, role: str
) -> None:
    """After globex and an operator acted everywhere, no route acme's key may read mentions them."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    identities = await leave_traces_as_globex(service)
    acme = await service.headers("acme", role)
    routes = tenant_readable_routes(service.app)
    assert len(routes) > 15, routes  # the list comes from the app: it cannot silently be empty
    leaks = []
    for method, path in routes:
        async with service.client.request(method, path, headers=acme) as r:
            body = await r.text()
            assert r.status < 500, (path, body)
        leaks += [(path, who) for who in identities if who in body]
    assert [] == leaks
