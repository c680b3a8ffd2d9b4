"""SQLite (WAL) backend: the embedded default, one file under ``./data/``.

One connection, driven by aiosqlite's thread; an asyncio lock keeps each statement or
transaction whole, because the connection is shared by every coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from exporter.core.errors import StoreError, StoreUnavailable
from exporter.store.migrations import Index
from exporter.store.primitives import Row
from exporter.store.sql import SqlStore

log = logging.getLogger(__name__)
_LOGGED_BUILD_ROWS = 100_000  # index builds on tables this big are worth a line in the log


class _SqliteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)


class SqliteStore(SqlStore):
    backend = "sqlite"

    def __init__(self, path: str, *, wait: float = 5.0) -> None:
        self.path = path
        self._wait = wait
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        path = self.path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
            busy = f"busy_timeout={round(self._wait * 1000)}"  # how long a write waits for another writer's lock
            for pragma in ("journal_mode=WAL", "synchronous=FULL", busy, "foreign_keys=ON"):
                await conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {e}") from e
        self._conn = conn
        self._tx = _SqliteTx(conn)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock, _errors():
            return await self._tx.fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._lock, _errors():
            await self._tx.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._lock, _errors():
            await self._tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        async with self._lock, _errors():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def maintenance(self) -> AsyncIterator[SqliteStore]:
        """The store's own primitives: SQLite has no statement deadline to lift."""
        yield self

    async def build_indexes(self, indexes: Sequence[Index], *, online: bool) -> None:
        """At start-up, each missing index in a transaction of its own (SQLite cannot build one without
        holding the write lock: about 2 s per million rows; an interrupted start resumes with the next)."""
        if online:
            return
        for index in indexes:
            if not index.sqlite or await self.fetch("SELECT 1 FROM sqlite_master WHERE name = ?", index.name):
                continue
            [(rows,)] = await self.fetch(f"SELECT COALESCE(MAX(rowid), 0) FROM {index.table}")  # noqa: S608
            level = logging.INFO if rows >= _LOGGED_BUILD_ROWS else logging.DEBUG
            log.log(level, "building index %s on %s (about %d rows; writes wait)", index.name, index.table, rows)
            started = time.monotonic()
            async with self.transaction() as tx:
                await tx.execute(f"CREATE INDEX IF NOT EXISTS {index.name} ON {index.table} {index.columns}")
            log.log(level, "built index %s in %.1f s", index.name, time.monotonic() - started)

    async def close(self) -> None:
        if hasattr(self, "_conn"):
            await self._conn.close()


@asynccontextmanager
async def _errors() -> AsyncIterator[None]:
    try:
        yield
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "unable to open" in str(e) or "disk I/O" in str(e):
            raise StoreUnavailable(f"SQLite: {e}") from e
        raise StoreError(f"SQLite: {e}") from e
    except sqlite3.Error as e:
        raise StoreError(f"SQLite: {e}") from e
