"""The tenant API over real HTTP: seed shapes, isolation between tenants, roles, errors."""

from __future__ import annotations

import logging

import pytest
import yaml
from yarl import URL

from exporter.auth import tokens
from tests.support.helpers import auth
from tests.support.service import Service

SEED_CONFIG_FIELDS = {"id": str, "name": str, "region": str, "plan": str, "features": list, "limits": dict,
                      "compliance_standards": list}
SEED_USAGE_FIELDS = ["api_calls_this_month", "api_calls_limit", "storage_used_gb", "storage_limit_gb",
                     "team_members_active", "team_members_limit", "cases_created", "cases_limit"]


async def test_config_has_every_seed_field_with_the_seed_types(service: Service) -> None:
    """GET /api/tenant/config answers the seed's fields, with its types, for the caller's tenant."""
    resp = await service.client.get("/api/tenant/config", headers=await service.headers("acme"))
    assert 200 == resp.status
    body = await resp.json()
    assert {k: type(body[k]) for k in SEED_CONFIG_FIELDS} == SEED_CONFIG_FIELDS
    assert ("acme", "Acme Corp", "eu-west", "enterprise") == (body["id"], body["name"], body["region"], body["plan"])
    assert {"api_calls_per_month", "storage_gb", "team_members", "cases"} == set(body["limits"])
    assert all(isinstance(v, int) for v in body["limits"].values())
    assert "https://eu-west.api.example.com/api" == body["api_base_url"]
    assert "ai_orchestration" not in body["features"] and "sso" in body["features"]


async def test_each_tenant_sees_only_itself(service: Service) -> None:
    """Two tenants on different plans: each token answers for its own tenant only."""
    acme = await (await service.client.get("/api/tenant/limits", headers=await service.headers("acme"))).json()
    globex = await (await service.client.get("/api/tenant/limits", headers=await service.headers("globex"))).json()
    assert ("enterprise", 250000) == (acme["plan"], acme["limits"]["cases"])
    assert ("free", 50) == (globex["plan"], globex["limits"]["cases"])
    assert "tenant_override" == acme["details"]["cases"]["source"]


async def test_a_tenant_token_cannot_switch_tenant(service: Service) -> None:
    """X-Tenant-ID naming another tenant is refused for a non-operator key."""
    resp = await service.client.get("/api/tenant/config", headers=await service.headers("globex", "admin",
                                                                                          **{"X-Tenant-ID": "acme"}))
    assert 403 == resp.status
    assert "application/problem+json" == resp.content_type


async def test_operator_chooses_the_tenant_with_x_tenant_id(service: Service) -> None:
    """An operator key acts for the tenant named in X-Tenant-ID; an unknown tenant is 404."""
    headers = await service.headers("globex", "operator", **{"X-Tenant-ID": "acme"})
    assert "acme" == (await (await service.client.get("/api/tenant/config", headers=headers)).json())["id"]
    headers["X-Tenant-ID"] = "nobody"
    assert 404 == (await service.client.get("/api/tenant/config", headers=headers)).status


@pytest.mark.parametrize(("header", "error"), [
    (None, None),
    ("Basic dXNlcjpwYXNz", None),
    ("Bearer " + tokens.new_token(), "invalid_token"),
    ("Bearer tex_notavalidtokenatallxxxxxxxxxxxxxxxx_abcdef", "invalid_token"),
], ids=["no header", "basic auth", "unknown but well-formed token", "bad checksum"])
async def test_missing_or_invalid_token_is_401_with_a_challenge(service: Service, header: str | None,
                                                                error: str | None) -> None:
    """Every /api route needs a bearer token; the 401 says how to authenticate (RFC 6750)."""
    resp = await service.client.get("/api/tenant/usage", headers={"Authorization": header} if header else {})
    assert 401 == resp.status
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="tenant-exporter"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert "application/problem+json" == resp.content_type


async def test_a_revoked_key_stops_working(service: Service) -> None:
    """After `keys revoke`, the token is refused once the key ring refreshes."""
    from exporter.auth import apikeys

    token = await service.token("acme", "admin")
    assert 200 == (await service.client.get("/api/tenant/config", headers=auth(token))).status
    record = next(r for r in await service.services.store.list_api_keys("acme") if r.name == "acme-admin")
    await apikeys.revoke_key(service.services.store, service.clock, record.id)
    await service.services.keyring.refresh()
    assert 401 == (await service.client.get("/api/tenant/config", headers=auth(token))).status


async def test_a_token_in_use_follows_a_reload_of_its_tenant(service: Service, config_dir) -> None:
    """A token already answered for keeps working after a reload and answers with the new plan and
    the new rate limit at once (nothing is remembered across catalog versions)."""
    headers = await service.headers("globex")
    before = await (await service.client.get("/api/tenant/config", headers=headers)).json()
    tenants = yaml.safe_load((config_dir / "tenants.yml").read_text())
    globex = next(t for t in tenants["tenants"] if t["id"] == "globex")
    globex.update(plan="professional", rate_limit={"requests_per_second": 7, "burst": 7})
    (config_dir / "tenants.yml").write_text(yaml.safe_dump(tenants))
    assert 200 == (await service.client.post("/-/reload", headers=await service.headers("acme", "operator"))).status
    resp = await service.client.get("/api/tenant/config", headers=headers)
    after = await resp.json()
    assert ("free", "professional") == (before["plan"], after["plan"])
    assert before["config_version"] != after["config_version"]
    assert '"burst";q=7;w=1' in resp.headers["RateLimit-Policy"]


async def test_viewer_cannot_reload_but_operator_can(service: Service) -> None:
    """POST /-/reload is for operators only."""
    assert 403 == (await service.client.post("/-/reload", headers=await service.headers("acme", "viewer"))).status
    assert 403 == (await service.client.post("/-/reload", headers=await service.headers("acme", "admin"))).status
    resp = await service.client.post("/-/reload", headers=await service.headers("acme", "operator"))
    assert 200 == resp.status
    assert (await resp.json())["reloaded"] is True


async def test_feature_check_explains_itself(service: Service) -> None:
    """A feature answer says whether it is on, and why (plan default or tenant override)."""
    headers = await service.headers("globex")
    on = await (await service.client.get("/api/tenant/feature/advanced_analytics", headers=headers)).json()
    assert {"feature": "advanced_analytics", "enabled": True, "known": True, "reason": "TARGETING_MATCH",
            "source": "tenant_override"}.items() <= on.items()
    off = await (await service.client.get("/api/tenant/feature/sso", headers=headers)).json()
    assert (False, "plan", "STATIC") == (off["enabled"], off["source"], off["reason"])


async def test_unknown_feature_is_disabled_not_an_error(service: Service) -> None:
    """An unknown feature name answers 200 with enabled false and known false."""
    resp = await service.client.get("/api/tenant/feature/teleport", headers=await service.headers("acme"))
    assert 200 == resp.status
    assert {"feature": "teleport", "enabled": False, "known": False}.items() <= (await resp.json()).items()


async def test_features_lists_enabled_ones_with_details(service: Service) -> None:
    """GET /api/tenant/features lists the enabled features and explains every known one."""
    body = await (await service.client.get("/api/tenant/features", headers=await service.headers("globex"))).json()
    assert ["advanced_analytics", "api_access", "basic_analytics"] == body["features"]
    assert "not included in plan free" == body["details"]["sso"]["explanation"]


async def test_compliance_and_data_residency(service: Service) -> None:
    """GET /api/tenant/compliance lists the plan's standards with names and the data region."""
    body = await (await service.client.get("/api/tenant/compliance", headers=await service.headers("acme"))).json()
    assert ["SOC2", "HIPAA", "GDPR", "CCPA", "FedRAMP", "ISO27001"] == body["compliance_standards"]
    assert {"id": "ISO27001", "name": "ISO/IEC 27001"} in body["certifications"]
    assert ("eu-west", "EU") == (body["data_residency"]["region"], body["data_residency"]["jurisdiction"])


async def test_regional_endpoint_joins_the_base_url(service: Service) -> None:
    """GET /api/tenant/region/{path} answers the tenant's regional base URL joined with the path."""
    body = await (await service.client.get("/api/tenant/region/cases/42/notes",
                                           headers=await service.headers("acme"))).json()
    assert "https://eu-west.api.example.com/api/cases/42/notes" == body["url"]
    assert ("eu-west", "cases/42/notes") == (body["region"], body["feature_path"])


@pytest.mark.parametrize("path", [
    "..%2F..%2Fetc", "cases/%2E%2E/x", "http:%2F%2Fevil.example", "cases//x", "%2F%2Fevil.example%2Fx",
    "a%5Cb", "cases/x%3Fq=1", "cases/%00",
], ids=["dot-dot", "encoded dot-dot", "scheme", "empty segment", "network path", "backslash", "query",
        "nul"])
async def test_regional_paths_that_try_to_escape_are_400(service: Service, path: str) -> None:
    """A feature path with '..', a scheme, '//' or escapes is refused with a clear 400."""
    base = service.client.make_url("/")
    raw = URL(f"{base}api/tenant/region/{path}", encoded=True)  # sent as written, not normalised by the client
    resp = await service.client.session.get(raw, headers=await service.headers("acme"))
    assert 400 == resp.status, await resp.text()
    assert "urn:tenant-exporter:problem:invalid-path" == (await resp.json())["type"]


async def test_unknown_route_and_wrong_method_are_problem_json(service: Service) -> None:
    """404 and 405 answer problem+json, never a 500."""
    resp = await service.client.get("/api/nothing-here")
    assert (404, "application/problem+json") == (resp.status, resp.content_type)
    resp = await service.client.delete("/api/tenant/config", headers=await service.headers("acme"))
    assert (405, "application/problem+json") == (resp.status, resp.content_type)
    assert {"GET", "HEAD"} == {m.strip() for m in resp.headers["Allow"].split(",")}
    assert resp.headers["X-Request-ID"] == (await resp.json())["request_id"]


async def test_cors_preflight_and_headers_for_listed_origins(make_service) -> None:
    """A listed frontend origin gets preflight answers and CORS headers, even on a 401."""
    service = await make_service(cors_origins=("http://localhost:5173",))
    pre = await service.client.options("/api/tenant/config", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert 204 == pre.status
    assert "http://localhost:5173" == pre.headers["Access-Control-Allow-Origin"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    denied = await service.client.get("/api/tenant/config", headers={"Origin": "http://localhost:5173"})
    assert (401, "http://localhost:5173") == (denied.status, denied.headers["Access-Control-Allow-Origin"])
    other = await service.client.get("/api/tenant/config", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_tokens_never_appear_in_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    """Neither valid nor invalid tokens are written to any log record."""
    caplog.set_level(logging.DEBUG)
    token = await service.token("acme", "admin")
    bogus = tokens.new_token()
    for t in (token, bogus):
        await service.client.get("/api/tenant/config", headers=auth(t))
        await service.client.put("/api/tenant/usage", data=b"{bad",
                                 headers=auth(t, **{"Content-Type": "application/json"}))
    assert caplog.records
    assert token not in caplog.text and bogus not in caplog.text
