"""The fleet's change feed on both backends: what one replica publishes, every other applies once."""

from __future__ import annotations

import asyncio

from exporter.core.errors import StoreError
from exporter.store import FleetChange, Store, open_store
from exporter.store.change_feed import ChangeFeed
from tests.support.helpers import FakeClock, eventually
from tests.support.pg_instance import PgInstance
from tests.support.service import Service


def feed(store: Store, name: str, applied: list[tuple[str, FleetChange]]) -> ChangeFeed:
    f = ChangeFeed(store, FakeClock(), name)

    async def apply(change: FleetChange) -> None:
        applied.append((name, change))

    f.subscribe("config", apply)
    return f


async def test_a_published_change_is_applied_once_by_every_other_replica(store: Store) -> None:
    """A change published on one replica is applied once by each other replica at its next poll, never by the
    one that made it, and polling again applies nothing more."""
    applied: list[tuple[str, FleetChange]] = []
    a, b, c = (feed(store, name, applied) for name in "abc")
    for f in (a, b, c):
        await f.start()
    change = await a.publish("config", "v2")
    for _ in range(2):
        for f in (a, b, c):
            await f.poll()
    assert [("b", change), ("c", change)] == applied
    assert (1, "v2", "a") == (change.generation, change.version, change.origin)
    assert [1, 1, 1] == [f.seen("config") for f in (a, b, c)]


async def test_changes_made_before_a_start_are_not_applied_again(store: Store) -> None:
    """A replica that starts after changes were published takes them as applied (it has just read its sources),
    and applies only the ones that come after."""
    applied: list[tuple[str, FleetChange]] = []
    a = feed(store, "a", applied)
    await a.publish("config", "v1")
    await a.publish("config", "v2")
    late = feed(store, "late", applied)
    await late.start()
    await late.poll()
    third = await a.publish("config", "v3")
    await late.poll()
    assert [("late", third)] == applied


async def test_replicas_publishing_at_once_each_get_a_generation(store: Store) -> None:
    """Ten replicas publishing at the same moment each get a generation of their own: no change is lost."""
    applied: list[tuple[str, FleetChange]] = []
    feeds = [feed(store, f"r{i}", applied) for i in range(10)]
    changes = await asyncio.gather(*(f.publish("config", f"v{i}") for i, f in enumerate(feeds)))
    assert list(range(1, 11)) == sorted(c.generation for c in changes)


async def test_a_reload_is_published_and_health_says_what_the_replica_runs(service: Service) -> None:
    """POST /-/reload answers the fleet's generation of the reload, and health names the version this replica
    runs, that generation, and whether the last reload succeeded."""
    operator = await service.headers("acme", "operator")
    before = (await (await service.client.get("/api/monitoring/health", headers=operator)).json())["config"]
    reloaded = await (await service.client.post("/-/reload", headers=operator)).json()
    after = (await (await service.client.get("/api/monitoring/health", headers=operator)).json())["config"]
    assert (0, True) == (before["reload_generation"], before["last_reload_successful"])
    assert (1, before["version"]) == (reloaded["generation"], reloaded["config_version"])
    assert (before["version"], 1, True) == (after["version"], after["reload_generation"],
                                            after["last_reload_successful"])


async def test_a_change_made_while_the_database_is_away_is_passed_on_once_it_is_back(private_pg: PgInstance) -> None:
    """A replica that publishes while PostgreSQL is stopped is told it could not (None), and its next poll after
    the database is back publishes it, so the other replicas apply it."""
    stores = [await open_store(private_pg.url, wait=1.0) for _ in range(2)]
    applied: list[tuple[str, FleetChange]] = []
    try:
        a, b = feed(stores[0], "a", applied), feed(stores[1], "b", applied)
        await b.start()
        private_pg.stop()
        while_away = await a.publish("config", "v2")
        private_pg.start()
        private_pg.wait_ready()
        await eventually(lambda: _poll_ok(a), "a poll once PostgreSQL is back", deadline=30)
        await b.poll()
    finally:
        for s in stores:
            await s.close()
    assert (None, ["b"], 1) == (while_away, [name for name, _ in applied], a.seen("config"))


async def _poll_ok(f: ChangeFeed) -> bool:
    try:
        await f.poll()
    except StoreError:
        return False
    return True
