"""The SLA part of the Store contract, on a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import asyncio

from exporter.store import BreachRow, ProbeDayRow, Store, open_store


def row(day: str, observer: str = "a", service: str = "api", results: int = 4, failures: int = 1) -> ProbeDayRow:
    return ProbeDayRow(service, day, observer, results, failures, results * 15_000, failures * 15_000, 0)


async def test_probe_sums_add_up_per_service_day_and_observer(store: Store) -> None:
    """Adding the same (service, day, observer) twice sums it; other days and observers stay apart."""
    await store.add_probe_days([row("2026-11-17"), row("2026-11-18")])
    await store.add_probe_days([row("2026-11-18"), row("2026-11-18", observer="b")])
    assert [ProbeDayRow("api", "2026-11-18", "a", 8, 2, 120_000, 30_000, 0),
            ProbeDayRow("api", "2026-11-18", "b", 4, 1, 60_000, 15_000, 0)] == await store.probe_days("2026-11-18")
    assert 3 == len(await store.probe_days("2026-11-01"))


async def test_concurrent_replicas_add_their_batches_exactly(database_url: str) -> None:
    """Twenty batches from two connections at once lose nothing (additive upserts)."""
    stores = [await open_store(database_url) for _ in range(2)]
    try:
        await asyncio.gather(*(s.add_probe_days([row("2026-11-18")]) for s in stores for _ in range(10)))
        [total] = await stores[0].probe_days("2026-11-18")
        assert (80, 20) == (total.results, total.failures)
    finally:
        for s in stores:
            await s.close()


async def test_breaches_are_inserted_updated_and_found_while_recent(store: Store) -> None:
    """A breach is saved open, updated as it grows and ends; breaches_since finds open and recently ended ones."""
    open_one = BreachRow("api-1", "api", "a", 100.0, 130.0, 2, None, "HTTP 503")
    old = BreachRow("db-1", "database", "a", 10.0, 40.0, 3, 40.0, "timeout")
    await store.save_breaches([open_one, old])
    await store.save_breaches([BreachRow("api-1", "api", "a", 100.0, 160.0, 4, None, "HTTP 503")])
    assert [BreachRow("api-1", "api", "a", 100.0, 160.0, 4, None, "HTTP 503")] == await store.breaches_since(50.0)
    assert ["db-1", "api-1"] == [b.id for b in await store.breaches_since(0.0)]


async def test_a_restarted_observer_ends_its_open_breaches_at_their_last_failure(store: Store) -> None:
    """close_open_breaches ends only that observer's open breaches, at their last failure."""
    await store.save_breaches([BreachRow("api-a", "api", "a", 100.0, 160.0, 4, None, "x"),
                               BreachRow("api-b", "api", "b", 100.0, 170.0, 5, None, "x")])
    await store.close_open_breaches("a")
    assert [("api-a", 160.0), ("api-b", None)] == [(b.id, b.ended_at) for b in await store.breaches_since(0.0)]
