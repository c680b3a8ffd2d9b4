"""Durable state behind the ``Store`` protocol; ``open_store`` picks the backend from a URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from exporter.core.errors import SettingsError
from exporter.store.protocol import Store
from exporter.store.records import (
    AckRecord,
    AlertStateRow,
    ApiKeyRecord,
    AuditFilter,
    AuditRecord,
    BreachRow,
    ChainHead,
    EvaluatorLease,
    FleetChange,
    FleetEvaluationRow,
    IdempotencyRecord,
    IncidentRow,
    IncidentUpdateRow,
    MaintenanceRow,
    ProbeDayRow,
    SessionRow,
    SloDayRow,
    SnapshotRow,
    StoredCheckpoint,
    TenantRecord,
)

__all__ = [
    "AckRecord", "AlertStateRow", "ApiKeyRecord", "AuditFilter", "AuditRecord", "BreachRow", "ChainHead",
    "EvaluatorLease", "FleetChange", "FleetEvaluationRow", "IdempotencyRecord", "IncidentRow", "IncidentUpdateRow",
    "MaintenanceRow",
    "ProbeDayRow", "SessionRow", "SloDayRow", "SnapshotRow", "Store", "StoredCheckpoint", "TenantRecord", "open_store",
    "start_store", "store_for",
]


def store_for(url: str, *, wait: float = 5.0) -> Store:
    """The store for ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``postgresql://...``, not yet open.

    ``wait``: seconds one operation may take before it fails with StoreUnavailable (PostgreSQL:
    the whole operation; SQLite: the wait for another writer's lock).
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from exporter.store.sqlite import SqliteStore

        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") else path
        return SqliteStore(path or ":memory:", wait=wait)
    if scheme in ("postgres", "postgresql"):
        from exporter.store.postgres import PostgresStore

        return PostgresStore(url, wait=wait)
    raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported (use sqlite:// or postgresql://)")


async def start_store(store: Store, *, migrate: bool = True) -> Store:
    """Connect ``store`` and bring its schema up to date; closed again if either fails."""
    await store.open()
    if migrate:
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
    return store


async def open_store(url: str, *, migrate: bool = True, wait: float = 5.0) -> Store:
    """``store_for(url)``, connected and migrated."""
    return await start_store(store_for(url, wait=wait), migrate=migrate)
