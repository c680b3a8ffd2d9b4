"""Custom metrics and Alertmanager notifications read the same on every replica and survive a restart: two
apps on one database (and, for the crash, one process killed with SIGKILL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporter.store import open_store
from tests.support.helpers import eventually, make_config_dir
from tests.support.metrics_helpers import value
from tests.support.pg_instance import PgInstance
from tests.support.service import Service, ServiceFactory
from tests.support.service_process import ServiceProcess
from tests.test_alertmanager_webhook import alert, notification
from tests.test_custom_metrics import exported

CUSTOM = "/api/monitoring/metrics/custom"
WEBHOOK = "/-/alertmanager/webhook"
SERIES = ("tenant_exporter_custom_queue_depth", (("queue", "intake"), ("tenant", "acme")))
FAST = {"fleet_poll_interval": 0.1}


async def post_sample(service: Service, value_: float, timestamp: str) -> int:
    body = {"name": "queue_depth", "value": value_, "tags": {"queue": "intake"}, "timestamp": timestamp}
    async with service.client.post(CUSTOM, json=body, headers=await service.headers("acme", "service")) as r:
        return r.status


async def listed(service: Service) -> list[str]:
    headers = await service.headers("acme", "operator")
    async with service.client.get("/api/monitoring/alertmanager/notifications", headers=headers) as r:
        return [n["alerts"][0]["labels"]["alertname"] for n in (await r.json())["notifications"]]


async def test_a_custom_metric_posted_to_one_replica_is_exported_by_every_replica(
        make_service: ServiceFactory) -> None:
    """A sample posted to one replica is exported by the other too; a newer one posted there replaces it on
    both; and a sample older than the newest one either has seen is refused by both."""
    a, b = await make_service(**FAST), await make_service(**FAST)
    assert 200 == await post_sample(a, 5, "2026-11-18T10:00:00Z")
    await eventually(lambda: exported(b).get(SERIES) == 5.0, "the other replica exports the sample", deadline=10)
    assert 200 == await post_sample(b, 7, "2026-11-18T10:01:00Z")
    await eventually(lambda: exported(a).get(SERIES) == 7.0, "the first replica exports the newer sample",
                     deadline=10)
    assert [409, 409] == [await post_sample(s, 6, "2026-11-18T10:00:30Z") for s in (a, b)]
    assert [7.0, 7.0] == [exported(s)[SERIES] for s in (a, b)]


async def test_custom_metrics_and_notifications_survive_a_restart(make_service: ServiceFactory) -> None:
    """After a clean stop and a new start on the same database, the custom series and the notifications received
    before are still there."""
    first = await make_service(**FAST)
    assert 200 == await post_sample(first, 3, "2026-11-18T10:00:00Z")
    async with first.client.post(WEBHOOK, json=notification(alert("ApiBurn", "critical"))) as r:
        assert 200 == r.status
    await first.client.close()  # the app stops: what is pending is written
    second = await make_service(**FAST)
    assert (3.0, ["ApiBurn"]) == (exported(second).get(SERIES), await listed(second))


async def test_notifications_received_by_any_replica_are_listed_by_every_replica(
        make_service: ServiceFactory) -> None:
    """Alertmanager posting to either replica (a load balancer in between) is listed the same by both, newest
    first, and only the newest ALERTMANAGER_WEBHOOK_HISTORY are kept."""
    a, b = await make_service(alertmanager_webhook_history=3), await make_service(alertmanager_webhook_history=3)
    for i, s in enumerate([a, b, a, b]):
        async with s.client.post(WEBHOOK, json=notification(alert(f"Alert{i}", "warning"))) as r:
            assert 200 == r.status
    expected = ["Alert3", "Alert2", "Alert1"]
    assert [expected, expected] == [await listed(a), await listed(b)]
    assert [2.0, 2.0] == [s.registry.get_sample_value("tenant_exporter_alertmanager_notifications_total",
                                                      {"status": "firing", "severity": "warning"}) for s in (a, b)]


async def test_a_notification_that_cannot_be_stored_is_refused_so_alertmanager_sends_it_again(
        make_service: ServiceFactory, private_pg: PgInstance) -> None:
    """With PostgreSQL stopped the webhook answers 503 with Retry-After (Alertmanager retries) and counts
    nothing; the notification sent again once the database is back is kept."""
    service = await make_service(database_url=private_pg.url, store_timeout=1.0)
    body = notification(alert("DiskFull", "critical"))
    private_pg.stop()
    async with service.client.post(WEBHOOK, json=body) as r:
        refused = (r.status, "Retry-After" in r.headers)
    private_pg.start()
    private_pg.wait_ready()

    async def delivered() -> bool:
        async with service.client.post(WEBHOOK, json=body) as r:
            return r.status == 200

    await eventually(delivered, "the notification is kept once PostgreSQL is back", deadline=30)
    assert (503, True) == refused
    assert (["DiskFull"], 1.0) == (await listed(service), service.registry.get_sample_value(
        "tenant_exporter_alertmanager_notifications_total", {"status": "firing", "severity": "critical"}))


@pytest.mark.e2e
async def test_a_replica_killed_keeps_the_custom_series_it_wrote(tmp_path: Path, postgres_url: str) -> None:
    """A replica killed with SIGKILL more than one sync interval after a sample starts again exporting that
    sample: what a crash can lose is at most the last interval."""
    make_config_dir(tmp_path / "config")
    env = {"DATABASE_URL": postgres_url, "FLEET_POLL_INTERVAL": "0.2", "PROBE_AT_START": "false"}
    p = ServiceProcess(tmp_path, env)
    token = p.cli("keys", "create", "--tenant", "default-tenant", "--role", "service").stdout.strip()
    body: dict[str, Any] = {"name": "queue_depth", "value": 11, "tags": {"queue": "intake"}}
    try:
        p.start()
        async with aiohttp.ClientSession() as http:
            async with http.post(p.url + CUSTOM, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
                assert 200 == r.status

            async def written() -> bool:
                store = await open_store(postgres_url, migrate=False)
                try:
                    return bool(await store.fetch("SELECT 1 FROM custom_metric_series"))  # type: ignore[attr-defined]
                finally:
                    await store.close()

            await eventually(written, "the sample is written", deadline=10)
            p.kill()
            p.start()
            async with http.get(p.url + "/metrics") as r:
                text = await r.text()
    finally:
        p.kill()
    assert 11.0 == value(text, "tenant_exporter_custom_queue_depth", queue="intake", tenant="default-tenant")
