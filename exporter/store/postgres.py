"""PostgreSQL backend (asyncpg pool), for several replicas sharing one database."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from exporter.core.errors import StoreError, StoreUnavailable
from exporter.store.sql import Row, SqlStore

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


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(_dollar(sql), *args))

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_dollar(sql), rows)


class PostgresStore(SqlStore):
    backend = "postgres"

    def __init__(self, pool: Any, *, command_timeout: float) -> None:
        self._pool = pool
        self._timeout = command_timeout

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10, wait: float = 5.0) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, timeout=wait, command_timeout=wait
            )
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e
        return cls(pool, command_timeout=wait)

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
        await tx.execute("SELECT pg_advisory_xact_lock(7201)")

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield conn
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"PostgreSQL unavailable: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"PostgreSQL: {e}") from e

    async def close(self) -> None:
        await self._pool.close()
