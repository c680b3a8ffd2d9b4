"""Key self-service over /api/keys: admins manage their own tenant's keys, operators any tenant's, nobody a
role above their own; the token is shown once; every change is audited; the command line still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.store import Store
from tests.support.audit_helpers import get_json, search
from tests.support.helpers import auth, run_cli
from tests.support.provisioning import create, write_rows
from tests.support.service import Service

KEYS = "/api/keys"


async def test_an_admin_creates_a_key_whose_token_works_at_once(service: Service) -> None:
    """201 with the token (shown once: the listing has only its hint), usable at once, audited with the admin
    as actor and the request's id."""
    admin = await service.headers("acme", "admin")
    resp = await service.client.post(KEYS, json={"role": "service", "name": "billing"},
                                     headers={**admin, "X-Request-ID": "req-key-1"})
    created = await resp.json()
    assert (201, "acme", "service", "billing") == (resp.status, created["tenant"], created["role"], created["name"])
    assert f"/api/keys/{created['id']}" == resp.headers["Location"]
    report = await service.client.put("/api/tenant/usage", json={"cases_created": 3},
                                      headers=auth(created["token"]))
    assert 200 == report.status
    _, listing = await get_json(service, KEYS, admin)
    [listed] = [k for k in listing["data"] if k["id"] == created["id"]]
    assert ("token" not in listed, listed["token_hint"]) == (True, created["token"][:8] + "…")
    [event] = await search(service, admin, action="api_key.create", target=created["id"])
    assert ("acme-admin", "admin", "req-key-1", "service") == (
        event["actor"]["name"], event["actor"]["role"], event["request_id"], event["details"]["role"])


@pytest.mark.parametrize(("caller", "body", "status", "problem"), [
    (("acme", "admin"), {"role": "operator"}, 403, "role-above-own"),
    (("acme", "admin"), {"role": "viewer", "tenant": "globex"}, 403, "other-tenant"),
    (("acme", "service"), {"role": "viewer"}, 403, "insufficient-role"),
    (("acme", "viewer"), {"role": "viewer"}, 403, "insufficient-role"),
    (("acme", "admin"), {"role": "root"}, 422, "validation-failed"),
    (("acme", "operator"), {"role": "viewer", "tenant": "nowhere"}, 404, "unknown-tenant"),
], ids=["an admin asking for an operator key", "an admin asking for another tenant's key",
        "a service key asking for any key", "a viewer key asking for any key", "a role that does not exist",
        "an operator naming a tenant that does not exist"])
async def test_escalation_and_bad_requests_are_refused(service: Service, caller: tuple[str, str], body: dict,
                                                       status: int, problem: str) -> None:
    """Each attempt is answered with its problem and creates no key."""
    headers = await service.headers(*caller)
    before = len(await service.services.store.list_api_keys())
    resp = await service.client.post(KEYS, json=body, headers=headers)
    assert (status, f"urn:tenant-exporter:problem:{problem}") == (resp.status, (await resp.json())["type"])
    assert before == len(await service.services.store.list_api_keys())


async def test_operators_manage_keys_of_any_tenant(service: Service) -> None:
    """An operator creates an operator key for another tenant (body ``tenant``), lists that tenant's keys
    only with ``tenant=``, and revokes them."""
    operator = await service.headers("acme", "operator")
    resp = await service.client.post(KEYS, json={"role": "operator", "tenant": "globex"}, headers=operator)
    created = await resp.json()
    assert (201, "globex", "operator") == (resp.status, created["tenant"], created["role"])
    _, listing = await get_json(service, KEYS, operator, tenant="globex")
    assert {"globex"} == {k["tenant"] for k in listing["data"]}
    assert 204 == (await service.client.delete(f"{KEYS}/{created['id']}", headers=operator)).status
    assert 401 == (await service.client.get("/api/tenant/config", headers=auth(created["token"]))).status


async def test_an_admin_sees_and_revokes_only_its_own_tenants_keys(service: Service) -> None:
    """An admin lists its tenant's keys only; revokes a viewer key there (401 at once, idempotent); another
    tenant's key is 404 to it, and an operator key of its own tenant 403."""
    admin = await service.headers("acme", "admin")
    viewer = await (await service.client.post(KEYS, json={"role": "viewer"}, headers=admin)).json()
    await service.token("globex", "viewer")
    await service.token("acme", "operator")
    acme_operator = next(r for r in await service.services.store.list_api_keys("acme") if r.role == "operator")
    globex_key = next(r for r in await service.services.store.list_api_keys("globex"))
    _, listing = await get_json(service, KEYS, admin)
    assert {"acme"} == {k["tenant"] for k in listing["data"]}
    assert 403 == (await service.client.get(KEYS, params={"tenant": "globex"}, headers=admin)).status
    assert 200 == (await service.client.get("/api/tenant/config", headers=auth(viewer["token"]))).status
    assert [204, 204] == [(await service.client.delete(f"{KEYS}/{viewer['id']}", headers=admin)).status
                          for _ in range(2)]
    assert 401 == (await service.client.get("/api/tenant/config", headers=auth(viewer["token"]))).status
    assert 404 == (await service.client.delete(f"{KEYS}/{globex_key.id}", headers=admin)).status
    assert 403 == (await service.client.delete(f"{KEYS}/{acme_operator.id}", headers=admin)).status
    assert None is (await service.services.store.api_key(acme_operator.id)).revoked_at
    events = await search(service, admin, action="api_key.revoke", target=viewer["id"])
    assert [False, True] == sorted(e["details"]["already_revoked"] for e in events)


async def test_keys_are_listed_a_page_at_a_time(service: Service) -> None:
    """limit and cursor walk an operator's listing of a tenant's keys in id order; revoked ones only on request."""
    operator = await service.headers("acme", "operator")
    made = [await (await service.client.post(KEYS, json={"role": "viewer", "tenant": "globex"},
                                             headers=operator)).json() for _ in range(5)]
    await service.client.delete(f"{KEYS}/{made[0]['id']}", headers=operator)
    ids, cursor = [], None
    while True:
        _, page = await get_json(service, KEYS, operator, tenant="globex", limit=2, **({"cursor": cursor} if cursor
                                                                                       else {}))
        ids += [k["id"] for k in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert sorted(k["id"] for k in made[1:]) == ids
    _, everything = await get_json(service, KEYS, operator, tenant="globex", include_revoked="true")
    assert sorted(k["id"] for k in made) == [k["id"] for k in everything["data"]]


async def test_an_admin_of_an_api_tenant_manages_its_keys(service: Service) -> None:
    """A tenant made over the API gets an admin key from an operator, and that admin makes its own keys."""
    operator = await service.headers("acme", "operator")
    await create(service, operator, "initech")
    admin = await (await service.client.post(KEYS, json={"role": "admin", "tenant": "initech"},
                                             headers=operator)).json()
    resp = await service.client.post(KEYS, json={"role": "viewer", "name": "dashboard"}, headers=auth(admin["token"]))
    assert (201, "initech") == (resp.status, (await resp.json())["tenant"])


async def test_the_command_line_creates_keys_for_tenants_made_over_the_api(
    store: Store, database_url: str, config_dir: Path
) -> None:
    """`tenant-exporter keys create` finds a tenant that exists only in the database; an unknown one is exit 1."""
    await write_rows(store, ["initech"])
    env = {"DATABASE_URL": database_url, "CONFIG_DIR": str(config_dir)}
    made = run_cli("keys", "create", "--tenant", "initech", "--role", "admin", env=env)
    missing = run_cli("keys", "create", "--tenant", "nowhere", "--role", "admin", env=env)
    assert (0, True) == (made.returncode, made.stdout.startswith("tex_"))
    assert (1, True) == (missing.returncode, "unknown tenant 'nowhere'" in missing.stderr)
    assert ["initech"] == [r.tenant_id for r in await store.list_api_keys("initech")]
