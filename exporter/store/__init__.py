"""Durable state behind the ``Store`` protocol; ``open_store`` picks the backend from a URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from exporter.core.errors import SettingsError
from exporter.store.alerts_sql import AckRecord
from exporter.store.audit_sql import AuditFilter, AuditRecord, ChainHead, StoredCheckpoint
from exporter.store.base import ApiKeyRecord, Store
from exporter.store.sla_sql import BreachRow, ProbeDayRow

__all__ = [
    "AckRecord", "ApiKeyRecord", "AuditFilter", "AuditRecord", "BreachRow", "ChainHead", "ProbeDayRow", "Store",
    "StoredCheckpoint", "open_store",
]


async def open_store(url: str, *, migrate: bool = True, wait: float = 5.0) -> Store:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``postgresql://...``.

    ``wait``: seconds one operation may take before it fails with StoreUnavailable (PostgreSQL:
    the whole operation; SQLite: the wait for another writer's lock).
    """
    scheme = urlsplit(url).scheme
    store: Store
    if scheme == "sqlite":
        from exporter.store.sqlite import SqliteStore

        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") else path
        store = await SqliteStore.open(path or ":memory:", wait=wait)
    elif scheme in ("postgres", "postgresql"):
        from exporter.store.postgres import PostgresStore

        store = await PostgresStore.open(url, wait=wait)
    else:
        raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported (use sqlite:// or postgresql://)")
    if migrate:
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
    return store
