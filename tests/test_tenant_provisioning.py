"""The tenant provisioning API: tenants created, listed, changed, disabled and deleted by operators,
checked by the rules of tenants.yml, audited, idempotent on create, kept across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.audit.chain import verify_tenants
from tests.support.audit_helpers import get_json, search
from tests.support.helpers import auth
from tests.support.provisioning import ADMIN_TENANTS, create, spec
from tests.support.service import Service, ServiceFactory


@pytest.fixture
async def operator(service: Service) -> dict[str, str]:
    return await service.headers("acme", "operator")


async def chain(service: Service, headers: dict[str, str], tenant: str, action: str = "") -> list[str]:
    """The actions of ``tenant``'s audit events, in chain order (events at one instant share a time)."""
    events = await search(service, headers, tenant=tenant, **({"action": action} if action else {}))
    return [e["action"] for e in sorted(events, key=lambda e: e["seq"])]


async def test_a_created_tenant_is_served_at_once_with_its_overrides(service: Service, operator) -> None:
    """A 201 names the tenant (source api, Location); a key made for it at once reads its config, with
    the plan's features and limits and the overrides applied."""
    resp = await service.client.post(ADMIN_TENANTS, json=spec(
        "initech", plan="standard", region="eu-west", domain="initech.example.com",
        features={"add": ["sso"], "remove": ["data_export"]}, limits={"cases": 7}), headers=operator)
    body = await resp.json()
    assert (201, "/api/admin/tenants/initech") == (resp.status, resp.headers["Location"])
    assert ("initech", "api", False, False, {"cases": 7}) == (
        body["id"], body["source"], body["read_only"], body["disabled"], body["limits"])
    token = await service.token("initech", "viewer")
    config = await (await service.client.get("/api/tenant/config", headers=auth(token))).json()
    assert ("standard", "eu-west", "initech.example.com") == (config["plan"], config["region"], config["domain"])
    assert ("sso" in config["features"], "data_export" in config["features"]) == (True, False)
    assert (7, 500000) == (config["limits"]["cases"], config["limits"]["api_calls_per_month"])


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"plan": "platinum"}, "#/plan"),
    ({"region": "mars-north"}, "#/region"),
    ({"features": {"add": ["teleport"]}}, "#/features/add/0"),
    ({"features": {"add": ["sso"], "remove": ["sso"]}}, "#/features"),
    ({"limits": {"cases": -1}}, "#/limits/cases"),
    ({"limits": {"team_members": 2.5}}, "#/limits/team_members"),
    ({"limits": {"seats": 3}}, "#/limits/seats"),
    ({"soft_limits": ["cases", "cases"]}, "#/soft_limits/1"),
    ({"rate_limit": {"requests_per_second": 0}}, "#/rate_limit/requests_per_second"),
    ({"id": "-starts-with-a-dash"}, "#/id"),
    ({"name": ""}, "#/name"),
    ({"domain": "not a host"}, "#/domain"),
], ids=["a plan that does not exist", "a region that does not exist", "an unknown feature",
        "a feature both added and removed", "a negative limit", "a fraction of a team member", "an unknown limit",
        "a soft limit listed twice", "a rate of zero", "an id that starts with a dash", "an empty name",
        "a domain that is not a host name"])
async def test_a_tenant_that_breaks_the_rules_of_tenants_yml_is_refused(
    service: Service, operator, fields: dict[str, Any], pointer: str
) -> None:
    """422 problem+json pointing at the field, and nothing is created."""
    body = spec("initech", **fields)
    resp = await service.client.post(ADMIN_TENANTS, json=body, headers=operator)
    problem = await resp.json()
    assert (422, "application/problem+json") == (resp.status, resp.content_type)
    assert pointer in [e["pointer"] for e in problem["errors"]], problem
    assert 404 == (await service.client.get(f"{ADMIN_TENANTS}/{body['id']}", headers=operator)).status


async def test_unknown_fields_and_malformed_bodies_are_refused(service: Service, operator) -> None:
    """A misspelt field is a 422 naming it; a body that is not JSON is a 400."""
    resp = await service.client.post(ADMIN_TENANTS, json={**spec("initech"), "plna": "free"}, headers=operator)
    assert (422, "#/plna") == (resp.status, (await resp.json())["errors"][0]["pointer"])
    resp = await service.client.post(ADMIN_TENANTS, data=b"{nope", headers={**operator,
                                                                           "Content-Type": "application/json"})
    assert 400 == resp.status


async def test_ids_are_unique_across_tenants_yml_the_api_and_deleted_tenants(service: Service, operator) -> None:
    """An id of tenants.yml, of an existing tenant or of a deleted one is a 409: ids are never reused."""
    await create(service, operator, "initech")
    await create(service, operator, "hooli")
    assert 204 == (await service.client.delete(f"{ADMIN_TENANTS}/hooli", headers=operator)).status
    statuses = [(await service.client.post(ADMIN_TENANTS, json=spec(i), headers=operator)).status
                for i in ("acme", "initech", "hooli")]
    assert [409, 409, 409] == statuses


async def test_a_create_retried_with_its_idempotency_key_answers_the_same_201(service: Service, operator) -> None:
    """The same key and body: the first 201 again (``Idempotent-Replayed``), one tenant, one audit event;
    the same key with another body: 422; another caller's same key is its own."""
    headers = {**operator, "Idempotency-Key": "3f0c8d52-signup-42"}
    first = await service.client.post(ADMIN_TENANTS, json=spec("initech"), headers=headers)
    again = await service.client.post(ADMIN_TENANTS, json=spec("initech"), headers=headers)
    assert (201, 201, await first.read()) == (first.status, again.status, await again.read())
    assert ("true", None) == (again.headers.get("Idempotent-Replayed"), first.headers.get("Idempotent-Replayed"))
    other_body = await service.client.post(ADMIN_TENANTS, json=spec("initech", plan="free"), headers=headers)
    assert (422, "urn:tenant-exporter:problem:idempotency-key-reused") == (
        other_body.status, (await other_body.json())["type"])
    other_caller = {**await service.headers("globex", "operator"), "Idempotency-Key": "3f0c8d52-signup-42"}
    assert 201 == (await service.client.post(ADMIN_TENANTS, json=spec("hooli"), headers=other_caller)).status
    assert ["tenant.create"] == await chain(service, operator, "initech", "tenant.")


async def test_the_listing_pages_through_file_and_api_tenants_in_id_order(service: Service, operator) -> None:
    """Cursor pages in id order hold tenants.yml's tenants (read-only, with their source) and the API's."""
    for tenant_id in ("b-corp", "hooli", "zeta", "initech"):
        await create(service, operator, tenant_id)
    seen: list[tuple[str, str, bool]] = []
    cursor = None
    while True:
        status, page = await get_json(service, ADMIN_TENANTS, operator, limit=2, **({"cursor": cursor} if cursor
                                                                                   else {}))
        assert 200 == status, page
        seen += [(t["id"], t["source"], t["read_only"]) for t in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [("acme", "tenants.yml", True), ("b-corp", "api", False), ("globex", "tenants.yml", True),
            ("hooli", "api", False), ("initech", "api", False), ("zeta", "api", False)] == seen
    assert 400 == (await service.client.get(ADMIN_TENANTS, params={"cursor": "%%%"}, headers=operator)).status


async def test_a_patch_changes_what_the_tenant_is_served_at_once(service: Service, operator) -> None:
    """A plan change shows in the tenant's config (and its OFREP answers) on the next request; ``null``
    removes an override; the region stays fixed (422); a no-op patch changes nothing (no event)."""
    await create(service, operator, "initech", limits={"cases": 7})
    token = auth(await service.token("initech", "viewer"))
    before = await (await service.client.get("/api/tenant/config", headers=token)).json()
    resp = await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"plan": "professional", "limits": None},
                                      headers=operator)
    assert (200, "professional", {}) == (resp.status, (body := await resp.json())["plan"], body["limits"])
    after = await (await service.client.get("/api/tenant/config", headers=token)).json()
    assert ("standard", 7, "professional", 1000) == (before["plan"], before["limits"]["cases"], after["plan"],
                                                     after["limits"]["cases"])
    assert before["config_version"] != after["config_version"]
    flag = await service.client.post("/ofrep/v1/evaluate/flags/audit_log", headers=token)
    assert True is (await flag.json())["value"]
    moved = await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"region": "eu-west"}, headers=operator)
    assert (422, "#/region") == (moved.status, (await moved.json())["errors"][0]["pointer"])
    same = await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"plan": "professional"}, headers=operator)
    assert (200, body["revision"]) == (same.status, (await same.json())["revision"])
    assert ["tenant.create", "tenant.update"] == await chain(service, operator, "initech", "tenant.")


async def test_a_disabled_tenant_is_refused_until_it_is_enabled_again(service: Service, operator) -> None:
    """``PATCH {"disabled": true}``: the tenant's keys get 403 tenant-disabled at once, a token seen before
    included; ``false`` lets them in again; both are audited as tenant.disable and tenant.enable."""
    await create(service, operator, "initech")
    token = auth(await service.token("initech", "admin"))
    assert 200 == (await service.client.get("/api/tenant/config", headers=token)).status
    off = await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"disabled": True}, headers=operator)
    assert (200, True) == (off.status, (await off.json())["disabled"])
    refused = await service.client.get("/api/tenant/config", headers=token)
    assert (403, "urn:tenant-exporter:problem:tenant-disabled") == (refused.status, (await refused.json())["type"])
    await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"disabled": False}, headers=operator)
    assert 200 == (await service.client.get("/api/tenant/config", headers=token)).status
    assert ["tenant.create", "tenant.disable", "tenant.enable"] == await chain(service, operator, "initech",
                                                                               "tenant.")


async def test_deleting_a_tenant_revokes_its_keys_and_keeps_its_audit_chain(service: Service, operator) -> None:
    """After DELETE the tenant's keys get 401, it is gone from the listing (404), and its audit log (key
    created, tenant created, deleted) is still readable and verifies."""
    await create(service, operator, "initech")
    token = auth(await service.token("initech", "admin"))
    await service.client.get("/api/tenant/config", headers=token)
    assert 204 == (await service.client.delete(f"{ADMIN_TENANTS}/initech", headers=operator)).status
    assert 401 == (await service.client.get("/api/tenant/config", headers=token)).status
    assert 404 == (await service.client.get(f"{ADMIN_TENANTS}/initech", headers=operator)).status
    assert 404 == (await service.client.delete(f"{ADMIN_TENANTS}/initech", headers=operator)).status
    assert ["tenant.create", "api_key.create", "tenant.delete"] == await chain(service, operator, "initech")
    [deleted] = await search(service, operator, tenant="initech", action="tenant.delete")
    assert ("api_key", "acme-operator") == (deleted["actor"]["type"], deleted["actor"]["name"])
    status, verified = await get_json(service, "/api/audit-logs/verify", operator, tenant="initech")
    assert (200, True) == (status, verified["ok"])
    [result] = await verify_tenants(service.services.store, ["initech"], key=None)
    assert (True, 3, 3) == (result.ok, result.checked, result.head_seq)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", ADMIN_TENANTS), ("GET", ADMIN_TENANTS), ("GET", f"{ADMIN_TENANTS}/acme"),
    ("PATCH", f"{ADMIN_TENANTS}/acme"), ("DELETE", f"{ADMIN_TENANTS}/acme"),
], ids=["creating", "listing", "reading one", "changing", "deleting"])
async def test_only_operators_provision_tenants(service: Service, method: str, path: str) -> None:
    """An admin (of its own tenant) gets 403 on every provisioning route."""
    resp = await service.client.request(method, path, json=spec("x"), headers=await service.headers("acme", "admin"))
    assert 403 == resp.status


async def test_tenants_of_tenants_yml_are_read_only_here(service: Service, operator) -> None:
    """PATCH or DELETE of a tenants.yml tenant is a 409 that names the file; GET shows it with its source."""
    for method in ("PATCH", "DELETE"):
        resp = await service.client.request(method, f"{ADMIN_TENANTS}/globex", json={"name": "x"}, headers=operator)
        assert (409, "urn:tenant-exporter:problem:tenant-read-only") == (resp.status, (await resp.json())["type"])
    status, body = await get_json(service, f"{ADMIN_TENANTS}/globex", operator)
    assert (200, "tenants.yml", True, "free") == (status, body["source"], body["read_only"], body["plan"])


async def test_api_tenants_survive_a_restart(make_service: ServiceFactory) -> None:
    """A second service on the same database serves the tenants the first created, changed and deleted."""
    first = await make_service()
    headers = await first.headers("acme", "operator")
    await create(first, headers, "initech")
    await create(first, headers, "hooli")
    await first.client.patch(f"{ADMIN_TENANTS}/initech", json={"plan": "free"}, headers=headers)
    await first.client.delete(f"{ADMIN_TENANTS}/hooli", headers=headers)
    await first.client.close()
    second = await make_service()
    _, page = await get_json(second, ADMIN_TENANTS, await second.headers("acme", "operator"))
    assert [("acme", "enterprise"), ("globex", "free"), ("initech", "free")] == [
        (t["id"], t["plan"]) for t in page["data"]]
    assert ["tenants.yml", "api"] == [second.services.config.current.catalog.tenants[t].source
                                      for t in ("globex", "initech")]


async def test_a_reload_that_would_strand_api_tenants_is_refused(service: Service, operator, config_dir: Path
                                                                 ) -> None:
    """plans.yml losing a plan an API tenant is on: the reload fails naming the tenant and the old config
    stays; with the plan back, a reload rebuilds the tenant against the new plan's limits."""
    await create(service, operator, "initech", plan="standard")
    plans_file = config_dir / "plans.yml"
    original = plans_file.read_text()
    plans = yaml.safe_load(original)
    plans["plans"]["professional"]["limits"]["cases"] = 1234
    del plans["plans"]["standard"]
    plans_file.write_text(yaml.safe_dump(plans))
    resp = await service.client.post("/-/reload", headers=operator)
    problem = await resp.json()
    assert 400 == resp.status
    assert any("initech" in e and "plan" in e for e in problem["errors"]), problem
    plans["plans"]["standard"] = yaml.safe_load(original)["plans"]["standard"]
    plans["plans"]["standard"]["limits"]["cases"] = 4321
    plans_file.write_text(yaml.safe_dump(plans))
    assert 200 == (await service.client.post("/-/reload", headers=operator)).status
    token = auth(await service.token("initech", "viewer"))
    assert 4321 == (await (await service.client.get("/api/tenant/limits", headers=token)).json())["limits"]["cases"]


async def test_tenants_yml_wins_over_an_api_tenant_it_later_defines(service: Service, operator, config_dir: Path
                                                                   ) -> None:
    """tenants.yml gaining the id of an API tenant serves the file's definition (the row is kept, counted as
    shadowed); dropping it from the file serves the API tenant again."""
    await create(service, operator, "initech", plan="free")
    tenants_file = config_dir / "tenants.yml"
    original = tenants_file.read_text()
    doc = yaml.safe_load(original)
    doc["tenants"].append({"id": "initech", "name": "Initech (file)", "plan": "enterprise", "region": "eu-west"})
    tenants_file.write_text(yaml.safe_dump(doc))
    assert 200 == (await service.client.post("/-/reload", headers=operator)).status
    _, body = await get_json(service, f"{ADMIN_TENANTS}/initech", operator)
    assert ("tenants.yml", "enterprise") == (body["source"], body["plan"])
    assert 1.0 == service.registry.get_sample_value("tenant_exporter_tenants", {"source": "api", "state": "shadowed"})
    tenants_file.write_text(original)
    assert 200 == (await service.client.post("/-/reload", headers=operator)).status
    _, body = await get_json(service, f"{ADMIN_TENANTS}/initech", operator)
    assert ("api", "free") == (body["source"], body["plan"])
