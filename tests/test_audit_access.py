"""The audit log over real HTTP: who may read it (roles, tenants, the plan feature) and how bad parameters
are answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.audit.events import PLATFORM
from tests.support.audit_helpers import get_json, search, usage_draft, write
from tests.support.helpers import TWO_TENANTS, make_config_dir
from tests.support.service import Service, ServiceFactory

LIST = "/api/audit-logs/"


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("service", 403), ("admin", 200), ("operator", 200)],
                         ids=["viewers are refused", "services are refused", "admins may read",
                              "operators may read"])
async def test_only_admins_and_operators_read_the_log(service: Service, role: str, status: int) -> None:
    """Every audit route answers 403 problem+json to viewers and services."""
    headers = await service.headers("acme", role)
    answers = []
    for path in (LIST, "/api/audit-logs/search", "/api/audit-logs/export", "/api/audit-logs/verify"):
        resp = await service.client.get(path, headers=headers)
        answers.append((path, resp.status, resp.content_type == "application/problem+json"))
    assert [(path, status, status == 403) for path, _, _ in answers] == answers


async def test_a_tenant_never_sees_another_tenants_events(make_service: ServiceFactory, tmp_path: Path) -> None:
    """An admin reads only its tenant's events; naming another tenant is 403 (parameter or
    X-Tenant-ID); operators read every tenant and the platform, or the one they name."""
    globex_with_audit = {**TWO_TENANTS[1], "features": {"add": ["audit_log"]}}
    service = await make_service(config_dir=make_config_dir(tmp_path / "cfg", [TWO_TENANTS[0], globex_with_audit]))
    await write(service, usage_draft("acme", 1), usage_draft("globex", 2), usage_draft(PLATFORM, 3))
    globex = await service.headers("globex", "admin")
    assert {"globex"} == {e["tenant_id"] for e in await search(service, globex)}
    assert 403 == (await get_json(service, LIST, globex, tenant="acme"))[0]
    assert 403 == (await get_json(service, LIST, {**globex, "X-Tenant-ID": "acme"}))[0]
    for path in ("/api/audit-logs/export", "/api/audit-logs/verify"):
        assert 403 == (await service.client.get(path, headers=globex, params={"tenant": "acme"})).status
    operator = await service.headers("globex", "operator")
    assert {"acme", "globex", PLATFORM} == {e["tenant_id"] for e in await search(service, operator)}
    assert {"acme"} == {e["tenant_id"] for e in await search(service, operator, tenant="acme")}
    assert {"acme"} == {e["tenant_id"] for e in await search(service, {**operator, "X-Tenant-ID": "acme"})}


async def test_the_log_api_is_a_plan_feature_for_tenant_admins(service: Service) -> None:
    """A free-plan admin (no audit_log feature) gets 403 saying so, though its events are
    recorded; an operator still reads them."""
    await write(service, usage_draft("globex", 1))
    status, body = await get_json(service, LIST, await service.headers("globex", "admin"))
    assert (403, "urn:tenant-exporter:problem:feature-not-enabled") == (status, body["type"])
    assert "feature 'audit_log'" in body["detail"]
    assert ["usage.report"] == [e["action"] for e in await search(
        service, await service.headers("acme", "operator"), tenant="globex", action="usage")]


BAD = {
    "limit is not a number": {"limit": "ten"},
    "limit is zero": {"limit": "0"},
    "page is negative": {"page": "-1"},
    "a cursor this service never issued": {"cursor": "not-a-cursor"},
    "cursor and page together": {"cursor": "WzEuMCwiYSJd", "page": "2"},
    "since is not a time": {"since": "yesterday"},
    "page beyond a million": {"page": "1000001"},
    "unknown outcome": {"outcome": "maybe"},
    "text of two characters": {"q": "ok"},
    "unknown parameter": {"acton": "api_key"},
}


@pytest.mark.parametrize("params", list(BAD.values()), ids=list(BAD))
async def test_bad_parameters_are_a_clear_400(service: Service, params: dict[str, str]) -> None:
    """Bad query parameters answer 400 problem+json that says what is wrong, never 500."""
    resp = await service.client.get("/api/audit-logs/search", params=params,
                                    headers=await service.headers("acme", "admin"))
    body = await resp.json(content_type=None)
    assert (400, "application/problem+json") == (resp.status, resp.content_type)
    assert body["type"].startswith("urn:tenant-exporter:problem:invalid-") and body["detail"]


async def test_export_format_must_be_csv_or_jsonl(service: Service) -> None:
    """An unknown export format is 400 and names the formats."""
    status, body = await get_json(service, "/api/audit-logs/export", await service.headers("acme", "admin"),
                                  format="parquet")
    assert (400, "format must be one of csv, jsonl") == (status, body["detail"])
