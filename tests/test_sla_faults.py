"""The SLA during a database outage: the database probe fails, /status and /sla answer from memory, and the
batch held meanwhile is written once PostgreSQL returns (a private server, stopped and started for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pg_instance import PgInstance
from tests.support.service import ServiceFactory
from tests.support.sla_helpers import rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint


@pytest.fixture
def database_url(private_pg: PgInstance) -> str:
    """These tests run on their own PostgreSQL server, which they stop and start."""
    return private_pg.url


async def test_during_a_database_outage_the_page_answers_and_no_result_is_lost(
    make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path, private_pg: PgInstance,
) -> None:
    """With PostgreSQL stopped the database probe fails, /status (with the database's incident, which cannot be
    written yet) and /sla still answer from memory, and once the database is back the outage and its incident are
    written: a restarted process reports both."""
    config = sla_config(tmp_path / "config", cache.port)
    service = await make_service(config_dir=config, instance_id="a")
    headers = await service.headers("acme")
    async with service.client.get("/api/monitoring/sla", headers=headers) as r:  # the key is now known in memory
        assert 200 == r.status
    await rounds(service, cache, "+")
    private_pg.stop()
    await rounds(service, cache, "+++")
    await service.services.incidents.sync()  # the database's incident opens in memory: the store is the outage
    async with service.client.get("/api/monitoring/status") as r:
        database = next(c for c in (await r.json())["components"] if c["id"] == "database")
    async with service.client.get("/api/monitoring/sla", headers=headers) as r:
        during = (r.status, (await r.json())["services"]["database"]["downtime_minutes"])
    await service.services.sla.flush()  # fails: the batch stays in memory
    assert ("major_outage", (200, 30.0)) == (database["status"], during)
    private_pg.start()
    private_pg.wait_ready()
    await service.services.incidents.sync()  # the incident kept in memory is written now
    await service.client.close()  # a clean stop writes what is pending
    restarted = await make_service(config_dir=config, instance_id="a")
    async with restarted.client.get("/api/monitoring/sla", headers=headers) as r:
        after = (await r.json())["services"]["database"]
    async with restarted.client.get("/api/monitoring/status") as r:
        incidents_after = (await r.json())["incidents"]
    assert (30.0, 1, 40.0) == (after["downtime_minutes"], after["breaches_this_month"], after["observed_minutes"])
    assert ["API outage", "Database outage"] == sorted(i["name"] for i in incidents_after)  # /-/ready failed too
