"""Bulk-load a generated audit log (bench/audit_corpus.py) into a store at schema version 12, fast.

SQLite: plain ``sqlite3`` executemany in 100,000-row transactions with ``synchronous=OFF`` (a
benchmark's own file). PostgreSQL: COPY. The chain heads are written last, so the chains verify
and the service appends to them. The schema stops at version 12 (before the search indexes), so
that the migration that adds them runs on an existing 10 M-event log, as an upgrade would.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

from bench.audit_corpus import corpus, heads_of
from exporter.store import store_for
from exporter.store.migrations import MIGRATIONS
from exporter.store.records import AuditRecord

SEARCH = next(m for m in MIGRATIONS if m.version == 13)  # the audit search indexes
BEFORE_SEARCH = tuple(m for m in MIGRATIONS if m.version < SEARCH.version)  # a log from before them


_COLUMNS = ", ".join(AuditRecord._fields)
_HEADS = ("INSERT INTO audit_chain_heads (tenant_id, seq, hash, anchor_seq, anchor_hash, anchor_signature, "
          "updated_at) VALUES (?, ?, ?, 0, ?, '', ?)")


async def create_schema(url: str) -> None:
    store = store_for(url)
    await store.open()
    try:
        await store.migrate(BEFORE_SEARCH)  # type: ignore[call-arg]  (SqlStore takes the list)
    finally:
        await store.close()


def sqlite_path(url: str) -> Path:
    path = url.removeprefix("sqlite://")
    return Path(path[1:] if path.startswith("//") else path.removeprefix("/"))


async def load(url: str, n: int, *, end: float, report: bool = True) -> float:
    """Write ``n`` sealed events (and the chain heads); return the seconds it took."""
    from exporter.store.records import GENESIS_HASH

    await create_schema(url)
    started = time.perf_counter()
    heads: dict[str, tuple[int, str, float]] = {}
    done = 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        insert = f"INSERT INTO audit_events ({_COLUMNS}) VALUES ({', '.join('?' for _ in AuditRecord._fields)})"  # noqa: S608
        for batch in corpus(n, end=end, batch=100_000):
            conn.execute("BEGIN")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
            heads_of(batch, heads)
            done = _progress(done + len(batch), n, started, report)
        conn.executemany(_HEADS, [(t, seq, h, GENESIS_HASH, at) for t, (seq, h, at) in heads.items()])
        conn.close()
    else:
        schema = parse_qs(urlsplit(url).query).get("search_path", ["public"])[0]
        conn = await asyncpg.connect(url)
        try:
            for batch in corpus(n, end=end, batch=100_000):
                await conn.copy_records_to_table("audit_events", records=batch, columns=list(AuditRecord._fields),
                                                 schema_name=schema)
                heads_of(batch, heads)
                done = _progress(done + len(batch), n, started, report)
            await conn.executemany(_HEADS.replace("?", "${}").format(*range(1, 6)),
                                   [(t, seq, h, GENESIS_HASH, at) for t, (seq, h, at) in heads.items()])
            await conn.execute("VACUUM ANALYZE audit_events")  # as autovacuum would, eventually
        finally:
            await conn.close()
    return time.perf_counter() - started


def _progress(done: int, n: int, started: float, report: bool) -> int:
    if report and (done % 1_000_000 == 0 or done == n):
        rate = done / (time.perf_counter() - started)
        print(f"  loaded {done:,} of {n:,} events ({rate:,.0f}/s)", flush=True)
    return done
