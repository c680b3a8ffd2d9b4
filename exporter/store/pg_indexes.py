"""PostgreSQL: the declared indexes (``Migration.indexes``), built without blocking writes.

At start-up only the indexes of small tables are built, in a transaction that holds the migration
lock (a fresh install gets every index at once). The others are built in the background with
``CREATE INDEX CONCURRENTLY``, which cannot run inside a transaction: each statement commits on
its own, on a connection without the store timeout, while one replica at a time holds a session
lock (the others find it taken and leave the work to it). A build that was interrupted (a restart,
a lost connection) leaves an invalid index, which is dropped and built again next time. The audit
text index also comes one per month (``text_months``), built here after the declared ones, by the
same rule (at start-up while the table is small, concurrently once it is big).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

import asyncpg

from exporter.core.errors import StoreError
from exporter.store import text_months
from exporter.store.migrations import Index
from exporter.store.primitives import Primitives, Tx

log = logging.getLogger(__name__)

SMALL_TABLE_ROWS = 10_000  # an index on a table this small is built at start-up, in the ordinary way
MIGRATION_LOCK = 7201  # the transaction lock schema changes hold
ONLINE_LOCK = 7202  # the session lock of the replica building indexes concurrently (one per schema)
_ONLINE_KEY = f"{ONLINE_LOCK}, hashtext(current_schema())"
PROGRESS_SECONDS = 30.0


async def build(session: Primitives, indexes: Sequence[Index], *, online: bool,
                small_table_rows: int = SMALL_TABLE_ROWS) -> None:
    needs_trgm = any("{pg_trgm}" in (i.postgres or "") for i in indexes)
    if not online:
        trgm = await _pg_trgm_schema(session) if needs_trgm else None
        async with session.transaction() as tx:
            await tx.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            states = await _states(tx, indexes)
            for index in indexes:
                if index.name not in states and await _small(tx, index.table, small_table_rows):
                    await _create(tx, index, trgm, concurrently=False)
            if trgm is not None and await _small(tx, text_months.TABLE, small_table_rows):
                await text_months.build(tx, trgm, concurrently=False)
        return
    [(locked,)] = await session.fetch(f"SELECT pg_try_advisory_lock({_ONLINE_KEY})")
    if not locked:
        log.info("another replica is building the indexes; this one leaves them to it")
        return
    try:
        states = await _states(session, indexes)
        missing = [index for index in indexes if not states.get(index.name)]
        trgm = await _pg_trgm_schema(session) if needs_trgm else None
        for index in missing:
            if index.name in states:  # invalid: left by an interrupted concurrent build
                log.warning("index %s is invalid (an interrupted build): dropping it to build it again", index.name)
                await session.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
            await _create(session, index, trgm, concurrently=True)
        if trgm is not None:  # the audit text index, and one per month (text_months)
            await text_months.build(session, trgm,
                                    concurrently=not await _small(session, text_months.TABLE, small_table_rows))
    finally:
        await session.execute(f"SELECT pg_advisory_unlock({_ONLINE_KEY})")


async def report_progress(fetch: Callable[..., Awaitable[list[Sequence[Any]]]],
                          every: float = PROGRESS_SECONDS) -> None:
    """Log how far this schema's index builds are, every ``every`` seconds (an index on 10 M rows takes minutes)."""
    while True:
        await asyncio.sleep(every)
        with suppress(StoreError):
            for name, phase, done, total in await fetch(
                "SELECT i.relname, p.phase, p.blocks_done, p.blocks_total FROM pg_stat_progress_create_index p "
                "JOIN pg_class i ON i.oid = p.index_relid WHERE i.relnamespace = to_regnamespace(current_schema())"):
                share = f", {done / total:.0%} of the table read" if total else ""
                log.info("building index %s: %s%s", name, phase, share)


async def _states(tx: Tx, indexes: Sequence[Index]) -> dict[str, bool]:
    """Which of ``indexes`` exist in the current schema, and whether each is valid."""
    rows = await tx.fetch(
        "SELECT c.relname, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname = ANY(?)",
        [index.name for index in indexes],
    )
    return {str(name): bool(ok) for name, ok in rows}


async def _small(tx: Tx, table: str, rows: int) -> bool:
    [(count,)] = await tx.fetch(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?) AS t", rows)  # noqa: S608
    return int(count) < rows


async def _create(tx: Tx, index: Index, trgm: str | None, *, concurrently: bool) -> None:
    definition = index.postgres or index.columns
    if "{pg_trgm}" in definition:
        if trgm is None:
            return  # _pg_trgm_schema said why
        definition = definition.replace("{pg_trgm}", trgm)
    how = "CONCURRENTLY " if concurrently else ""
    started = time.monotonic()
    if concurrently:
        log.info("building index %s on %s concurrently (writes go on)", index.name, index.table)
    await tx.execute(f"CREATE INDEX {how}IF NOT EXISTS {index.name} ON {index.table} {definition}")
    if concurrently:
        log.info("built index %s in %.1f s", index.name, time.monotonic() - started)


async def _pg_trgm_schema(session: Primitives) -> str | None:
    """The (quoted) schema of the pg_trgm extension, created if missing; None (and a warning) if it cannot be."""
    query = ("SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
             "WHERE e.extname = 'pg_trgm'")
    rows = await session.fetch(query)
    problem = ""
    # in public when allowed (a schema nobody drops), else in the current schema
    for statement in ("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public", "CREATE EXTENSION IF NOT EXISTS pg_trgm"):
        if rows:
            break
        try:
            await session.execute(statement)
        except asyncpg.PostgresError as e:  # no privilege, no such schema, or another replica created it just now
            problem = str(e)
        rows = await session.fetch(query)
    if rows:
        return str(rows[0][0])
    log.warning("the pg_trgm extension is not installed and cannot be created here (%s): audit text search "
                "works without its index, slower; ask a superuser to run CREATE EXTENSION pg_trgm", problem)
    return None
