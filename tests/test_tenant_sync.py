"""Replicas see each other's tenant changes within seconds, through a database outage too; catching up
with and rebuilding many tenants gives the event loop back as it goes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.support.helpers import TWO_TENANTS, auth, eventually, make_config_dir
from tests.support.metrics_helpers import value
from tests.support.pg_instance import PgInstance
from tests.support.provisioning import ADMIN_TENANTS, create, spec, write_rows
from tests.support.service import Service, ServiceFactory
from tests.support.service_process import ServiceProcess

SYNC = 0.2


async def test_a_replica_serves_what_another_created_changed_and_deleted(make_service: ServiceFactory) -> None:
    """Two services on one database: a tenant created on the first is served by the second within seconds,
    its key working there; disabling and deleting it on the first reach the second too."""
    a = await make_service(tenant_sync_interval=SYNC)
    b = await make_service(tenant_sync_interval=SYNC)
    operator = await a.headers("acme", "operator")
    await create(a, operator, "initech", plan="free")
    token = auth(await a.token("initech", "admin"))

    async def status_on_b() -> int:
        return (await b.client.get("/api/tenant/config", headers=token)).status

    await eventually(lambda: "initech" in b.services.config.current.catalog.tenants, "the tenant reaching b",
                     deadline=10)
    assert 200 == await status_on_b()
    await a.client.patch(f"{ADMIN_TENANTS}/initech", json={"disabled": True}, headers=operator)
    await eventually(lambda: _is(status_on_b(), 403), "the tenant disabled on b", deadline=10)
    await a.client.delete(f"{ADMIN_TENANTS}/initech", headers=operator)
    await eventually(lambda: "initech" not in b.services.config.current.catalog.tenants, "the tenant gone from b",
                     deadline=10)
    count = b.registry.get_sample_value
    assert (2.0, 0.0) == (count("tenant_exporter_tenants", {"source": "tenants.yml", "state": "active"}),
                          count("tenant_exporter_tenants", {"source": "api", "state": "disabled"}))
    assert b.services.tenants.revision == a.services.tenants.revision


async def test_a_replica_whose_files_lack_the_plan_serves_the_tenant_after_its_reload(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """A tenant on a plan the second replica's plans.yml does not have yet is counted there as unbuilt and not
    served; once that replica's files gain the plan and it reloads, it serves the tenant."""
    a = await make_service(tenant_sync_interval=SYNC)
    other = make_config_dir(tmp_path / "other", tenants=TWO_TENANTS)
    plans = yaml.safe_load((other / "plans.yml").read_text())
    extra = {**plans["plans"]["standard"], "description": "new this week"}
    (other / "plans.yml").write_text(yaml.safe_dump(plans))
    b = await make_service(tenant_sync_interval=SYNC, config_dir=other)
    plans["plans"]["growth"] = extra
    (a_plans := a.services.settings.config_dir / "plans.yml").write_text(yaml.safe_dump(plans))
    operator = await a.headers("acme", "operator")
    assert 200 == (await a.client.post("/-/reload", headers=operator)).status
    await create(a, operator, "initech", plan="growth")
    unbuilt = {"source": "api", "state": "unbuilt"}
    await eventually(lambda: b.registry.get_sample_value("tenant_exporter_tenants", unbuilt) == 1.0,
                     "the tenant counted unbuilt on b", deadline=10)
    assert "initech" not in b.services.config.current.catalog.tenants
    (other / "plans.yml").write_text(a_plans.read_text())
    assert 200 == (await b.client.post("/-/reload", headers=await b.headers("acme", "operator"))).status
    assert ("growth", 0.0) == (b.services.config.current.catalog.tenants["initech"].plan.name,
                               b.registry.get_sample_value("tenant_exporter_tenants", unbuilt))


async def _is(status: object, expected: int) -> bool:
    return await status == expected  # type: ignore[misc]


async def test_catching_up_with_and_rebuilding_many_tenants_gives_the_loop_back(service: Service) -> None:
    """20,000 tenants written by another replica are applied, and rebuilt by a reload, while a ticker task
    keeps running: the work is done in slices, never in one go."""
    ids = [f"t-{i:05d}" for i in range(20_000)]
    await write_rows(service.services.store, ids)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        assert 20_000 == await service.services.tenant_sync.catch_up()
        during_catch_up = ticks
        result = await service.services.config.reload()
        during_reload = ticks - during_catch_up
    finally:
        task.cancel()
    tenants = service.services.config.current.catalog.tenants
    assert (True, 20_002) == (result.ok, len(tenants))
    assert ("api", "standard") == (tenants["t-19999"].source, tenants["t-19999"].plan.name)
    assert during_catch_up > 10 and during_reload > 10, (during_catch_up, during_reload)


@pytest.fixture
def pair(tmp_path: Path, private_pg: PgInstance) -> list[ServiceProcess]:
    make_config_dir(tmp_path / "config", tenants=[{"id": "acme", "name": "Acme", "plan": "enterprise",
                                                    "region": "eu-west"}])
    env = {"DATABASE_URL": private_pg.url, "TENANT_SYNC_INTERVAL": str(SYNC), "STORE_TIMEOUT": "2"}
    processes = [ServiceProcess(tmp_path, env), ServiceProcess(tmp_path, env)]
    yield processes
    for p in processes:
        p.kill()


@pytest.mark.e2e
async def test_tenants_reach_every_replica_across_a_database_outage(pair: list[ServiceProcess],
                                                                     private_pg: PgInstance) -> None:
    """Two processes: with PostgreSQL stopped a create answers 503 and creates nothing while the other replica
    keeps serving the tenants it has; once the database is back the retry (same Idempotency-Key) is a 201 and
    the other replica serves the new tenant within seconds."""
    a, b = pair
    operator = a.cli("keys", "create", "--tenant", "acme", "--role", "operator").stdout.strip()
    for p in pair:
        p.start()
    headers = {"Authorization": f"Bearer {operator}", "Idempotency-Key": "signup-7"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        async with http.post(a.url + ADMIN_TENANTS, json=spec("initech"), headers=headers) as r:
            assert 201 == r.status

        async def on_b(tenant: str) -> int:
            async with http.get(b.url + "/api/tenant/config", headers={"Authorization": f"Bearer {operator}",
                                                                      "X-Tenant-ID": tenant}) as r:
                return r.status

        await eventually(lambda: _is(on_b("initech"), 200), "initech served by b", deadline=15)
        private_pg.stop()
        async with http.post(a.url + ADMIN_TENANTS, json=spec("hooli"), headers={**headers,
                                                                               "Idempotency-Key": "signup-8"}) as r:
            assert 503 == r.status
        assert 200 == await on_b("initech")  # served from memory while the database is away

        async def sync_failures() -> float | None:
            async with http.get(b.url + "/metrics") as r:
                return value(await r.text(), "tenant_exporter_tenant_sync_failures_total") or None

        await eventually(sync_failures, "b's tenant sync failing while the database is away", deadline=15)
        assert 200 == await on_b("initech")  # ... and still served
        private_pg.start()
        private_pg.wait_ready()
        async with http.post(a.url + ADMIN_TENANTS, json=spec("hooli"), headers={**headers,
                                                                               "Idempotency-Key": "signup-8"}) as r:
            assert 201 == r.status
        await eventually(lambda: _is(on_b("hooli"), 200), "hooli served by b", deadline=15)
        async with http.get(b.url + "/metrics") as r:
            text = await r.text()
        assert value(text, "tenant_exporter_tenant_sync_failures_total") >= 1
        assert 2.0 == value(text, "tenant_exporter_tenants", source="api", state="active")
