"""Migration 6 on a log that already holds events: indexes built without blocking writes on PostgreSQL
(``CREATE INDEX CONCURRENTLY``, outside any transaction and outside the store timeout), at start-up on
SQLite, and the text index filled in the background; migrations have a deadline of their own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exporter.audit.chain import verify_chain
from exporter.audit.events import Actor, EventDraft, Target
from exporter.audit.recorder import append_events
from exporter.core.errors import StoreUnavailable
from exporter.store import AuditFilter, Store, pg_indexes, store_for
from exporter.store.migrations import MIGRATIONS, Migration
from tests.support.audit_search_data import events, expected, search_all, write
from tests.support.helpers import FakeClock, eventually
from tests.support.pg_instance import PgInstance
from tests.support.service import ServiceFactory

SEARCH = next(m for m in MIGRATIONS if m.version == 13)  # the audit search indexes
BEFORE_SEARCH = tuple(m for m in MIGRATIONS if m.version < SEARCH.version)  # a log from before them

RECORDS = events()
SEARCH_INDEXES = [i.name for i in SEARCH.indexes]


async def valid_indexes(store: Store) -> list[str]:
    rows = await store.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indisvalid AND "
        "c.relnamespace = to_regnamespace(current_schema()) AND c.relname = ANY(?) ORDER BY c.relname",
        SEARCH_INDEXES)
    return [r[0] for r in rows]


@pytest.fixture
async def before_migration_6(postgres_url: str) -> AsyncIterator[Store]:
    """A PostgreSQL log written before migration 13, big enough (for this store) that its indexes are left to
    the background: ``small_table_rows`` is 100 here, where the service uses 10,000."""
    store = store_for(postgres_url)
    store.small_table_rows = 100  # type: ignore[attr-defined]
    await store.open()
    await store.migrate(BEFORE_SEARCH)  # type: ignore[call-arg]
    await write(store, RECORDS)
    yield store
    await store.close()


async def test_indexes_on_an_existing_log_are_built_concurrently_while_writes_go_on(before_migration_6: Store) -> None:
    """Start-up applies migration 13 without building indexes on the big table; the background builds every
    one, valid, while another writer's events commit meanwhile; searches are right before and after."""
    store = before_migration_6
    await store.migrate()
    at_start = await valid_indexes(store)
    flt = AuditFilter(("big",), text="alpha", outcome="success")
    before = await search_all(store, flt, limit=20)
    written: list[int] = []

    async def writer() -> None:
        for i in range(10_000):
            await append_events(store, FakeClock(), [EventDraft("small", "usage.report", Actor.system("w"),
                                                                Target("usage", "small"), details={"i": i})])
            written.append(i)

    task = asyncio.create_task(writer())
    await store.migrate_online()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ([], sorted(SEARCH_INDEXES), True) == (at_start, await valid_indexes(store), len(written) > 0)
    assert (expected(RECORDS, flt), before) == (await search_all(store, flt, limit=20), before)
    assert (await verify_chain(store, "small")).ok


async def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(before_migration_6: Store) -> None:
    """An index a crash left invalid (as an interrupted CREATE INDEX CONCURRENTLY leaves it) is dropped and
    built again by the next background run."""
    store = before_migration_6
    await store.migrate()
    await store.migrate_online()
    [(old,)] = await store.fetch("SELECT 'audit_events_actor_id'::regclass::oid")
    await store.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'audit_events_actor_id'::regclass")
    await store.migrate_online()
    [(new,)] = await store.fetch("SELECT 'audit_events_actor_id'::regclass::oid")
    assert (sorted(SEARCH_INDEXES), True) == (await valid_indexes(store), old != new)


async def test_two_replicas_building_at_once_both_finish(postgres_url: str, before_migration_6: Store) -> None:
    """Two replicas start their background builds together: one builds, the other leaves it to it; no error."""
    await before_migration_6.migrate()
    other = store_for(postgres_url)
    await other.open()
    await asyncio.gather(before_migration_6.migrate_online(), other.migrate_online())
    await other.migrate_online()  # whichever one skipped: the work is done now
    await other.close()
    assert sorted(SEARCH_INDEXES) == await valid_indexes(before_migration_6)


async def test_a_migration_longer_than_the_store_timeout_completes(postgres_url: str) -> None:
    """Migrations run without the store timeout (0.5 s here): one that takes 1.2 s completes, where an
    ordinary operation of that length fails within the timeout."""
    slow = (*MIGRATIONS, Migration(99, "a slow migration", (), postgres_only=("SELECT pg_sleep(1.2)",)))
    store = store_for(postgres_url, wait=0.5)
    await store.open()
    try:
        version = await store.migrate(slow)  # type: ignore[call-arg]
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"did not answer within 0\.5 s"):
            await store.execute("SELECT pg_sleep(1.2)")
        cut_after = time.monotonic() - started
    finally:
        await store.close()
    assert (99, True) == (version, cut_after < 1.1)


async def test_with_nothing_to_migrate_a_frozen_server_still_fails_the_start_within_the_store_timeout(
    private_pg: PgInstance,
) -> None:
    """Checking that no migration is pending keeps the store timeout: a start against a database that froze
    fails in about a second, rather than waiting for it as a migration would."""
    first = store_for(private_pg.url, wait=1.0)
    await first.open()
    await first.migrate()
    started = time.monotonic()
    with private_pg.frozen(), pytest.raises(StoreUnavailable):
        await first.migrate()
    took = time.monotonic() - started
    first._pool.terminate()  # type: ignore[attr-defined]  (its connections were cut)
    assert took < 3.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_service_fills_the_text_index_of_an_existing_log_in_the_background(
    make_service: ServiceFactory, database_url: str, tmp_path: Path
) -> None:
    """A service started on an SQLite log from before migration 13 answers at once, fills the text index in
    the background, and searches find the same events before and after."""
    old = store_for(database_url)
    await old.open()
    await old.migrate(BEFORE_SEARCH)  # type: ignore[call-arg]
    await write(old, [r._replace(tenant_id="acme") for r in RECORDS])
    await old.close()
    service = await make_service()
    store = service.services.store
    await eventually(lambda: _filled(store), "the text index filled")
    records = [r._replace(tenant_id="acme") for r in RECORDS]
    flt = AuditFilter(("acme",), text="gamma_delta")
    assert expected(records, flt) == await search_all(store, flt, limit=25)


async def _filled(store: Store) -> bool:
    [(pending,)] = await store.fetch("SELECT pending_upto FROM audit_search_backfill")
    return int(pending) == 0


async def test_a_long_index_build_reports_how_far_it_is(caplog: pytest.LogCaptureFixture) -> None:
    """While indexes are built in the background, the log says every interval which one and how much of the
    table it has read (from pg_stat_progress_create_index)."""
    async def fetch(sql: str, *args: object) -> list[tuple[object, ...]]:
        return [("audit_events_text", "building index", 191_995, 499_375)]

    caplog.set_level(logging.INFO, logger="exporter.store.pg_indexes")
    task = asyncio.create_task(pg_indexes.report_progress(fetch, every=0.01))
    await eventually(lambda: caplog.messages, "a progress line")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "building index audit_events_text: building index, 38% of the table read" == caplog.messages[0]
