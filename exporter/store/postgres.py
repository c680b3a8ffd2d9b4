"""PostgreSQL backend (asyncpg pool), for several replicas sharing one database.

Every operation (``fetch``, ``execute``, ``executemany``, a ``transaction``) is over within the
store timeout: acquiring a connection (opening one if need be), the statements, COMMIT or
ROLLBACK and the reset on release share one deadline. asyncpg's own timeouts are per step, and
against a frozen server each step waits out its own (the first write after a freeze took 10 s:
5 s for BEGIN's command timeout, then 5 s more in release, waiting for the cancel request the
frozen postmaster never answers). At the deadline the connection is terminated, so every pending
await fails at once and the pool opens a new connection for the next acquirer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg

from exporter.core.errors import StoreError, StoreUnavailable
from exporter.store import pg_indexes
from exporter.store.migrations import Index
from exporter.store.primitives import Row
from exporter.store.sql import SqlStore

log = logging.getLogger(__name__)

_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # a connection the outage left mid-query: releasing it to the pool fails with "cannot switch
    # to state ...; another operation is in progress" (seen when PostgreSQL stops during an export)
    asyncpg.exceptions.InternalClientError,
)


@functools.lru_cache(maxsize=512)
def _dollar(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2, ...`` (the queries hold no literal question marks)."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class _Deadline:
    """The time one operation has: when it is up, the operation's connection is terminated."""

    __slots__ = ("_handle", "_loop", "at", "expired", "timeout")

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.at = self._loop.time() + timeout
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, conn: Any) -> None:
        self._handle = self._loop.call_at(self.at, self._expire, conn)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _expire(self, conn: Any) -> None:
        try:
            conn.terminate()  # pending awaits fail with ConnectionDoesNotExistError; the pool gets the holder back
        except asyncpg.exceptions.InterfaceError:  # released just now: the operation is over
            return
        self.expired = True

    def explain(self, error: BaseException) -> str:
        if self.expired or isinstance(error, TimeoutError):
            return f"PostgreSQL did not answer within {self.timeout:g} s"
        return f"PostgreSQL unavailable: {error}"


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(_dollar(sql), *args))

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_dollar(sql), rows)


class _PgSession(_PgTx):
    """A connection of its own, for schema work: each statement commits, unless in ``transaction()``."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        async with self._conn.transaction():
            yield self


class PostgresStore(SqlStore):
    backend = "postgres"
    small_table_rows = pg_indexes.SMALL_TABLE_ROWS  # tables this small get their indexes at start-up

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, wait: float = 5.0) -> None:
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._timeout = wait
        self._pool: Any = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=self._sizes[0], max_size=self._sizes[1],
                                                   timeout=self._timeout, command_timeout=self._timeout)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn() as conn:
            return await _PgTx(conn).fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._conn() as conn:
            await _PgTx(conn).execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._conn() as conn:
            await _PgTx(conn).executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        async with self._conn() as conn, conn.transaction():
            yield _PgTx(conn)

    async def _lock_migrations(self, tx: Any) -> None:
        await tx.execute(f"SELECT pg_advisory_xact_lock({pg_indexes.MIGRATION_LOCK})")

    @asynccontextmanager
    async def maintenance(self) -> AsyncIterator[_PgSession]:
        """A connection outside the pool, for schema changes and index builds, which may take minutes:
        neither the store timeout nor a statement timeout applies (connecting still has to succeed
        within the store timeout). Closed (terminated, if need be) at the end."""
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout, command_timeout=None)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e
        try:
            yield _PgSession(conn)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"PostgreSQL unavailable: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e
        finally:
            conn.terminate()  # never waits (a graceful close would, on a server that froze)

    async def build_indexes(self, indexes: Sequence[Index], *, online: bool) -> None:
        reporter = asyncio.create_task(pg_indexes.report_progress(self.fetch)) if online else None
        try:
            async with self.maintenance() as session:
                await pg_indexes.build(session, indexes, online=online, small_table_rows=self.small_table_rows)
        finally:
            if reporter is not None:
                reporter.cancel()
                with suppress(asyncio.CancelledError):
                    await reporter

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        """A pooled connection for one operation, which ends (or fails) within the store timeout."""
        deadline = _Deadline(self._timeout)
        try:
            conn = await self._pool.acquire(timeout=self._timeout)
            deadline.arm(conn)
            try:
                yield conn
            finally:
                await self._release(conn, deadline)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(deadline.explain(e)) from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e

    async def _release(self, conn: Any, deadline: _Deadline) -> None:
        """Give ``conn`` back (its reset runs before the deadline too).

        A failure here is not the operation's: its outcome is known by now (a COMMIT answered, or
        the error being raised). asyncpg terminates a connection whose reset fails.
        """
        try:
            await self._pool.release(conn)
        except Exception as e:  # any failure of the reset only drops the connection
            log.warning("PostgreSQL connection dropped on release: %s", deadline.explain(e))
        finally:
            deadline.disarm()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
