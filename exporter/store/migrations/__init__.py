"""Versioned schema migrations, applied at start by each backend.

The SQL is written once in the dialect both SQLite and PostgreSQL accept (``DOUBLE PRECISION``,
``BIGINT``, ``ON CONFLICT``, ``RETURNING``); a migration adds per-backend statements only where
the two differ. Append only: a released migration is never edited.

Indexes on tables that may already be big are declared apart (``Migration.indexes``) and
*ensured* at every start rather than applied once: SQLite builds each one in a transaction of its
own during start-up (it cannot build an index without holding the write lock; an interrupted
start resumes with the next one), PostgreSQL builds them in the background after start with
``CREATE INDEX CONCURRENTLY``, which cannot run in a transaction and does not block writes; an
invalid index left by an interrupted build is dropped and built again (``SqlStore.migrate``,
``SqlStore.migrate_online``).

Each module holds a run of them, in order; ``MIGRATIONS`` is all of them, and its versions count up
from 1 without gaps (checked at import).
"""

from __future__ import annotations

from exporter.store.migrations import (
    v01_base,
    v06_fleet,
    v08_monitoring,
    v12_tenants,
    v13_audit_search,
    v14_evaluator,
)
from exporter.store.migrations.model import Index, Migration

MIGRATIONS: tuple[Migration, ...] = (*v01_base.MIGRATIONS, *v06_fleet.MIGRATIONS, *v08_monitoring.MIGRATIONS,
                                     *v12_tenants.MIGRATIONS, *v13_audit_search.MIGRATIONS,
                                     *v14_evaluator.MIGRATIONS)

if [m.version for m in MIGRATIONS] != list(range(1, len(MIGRATIONS) + 1)):
    raise RuntimeError(f"migration versions must count up from 1: {[m.version for m in MIGRATIONS]}")

__all__ = ["MIGRATIONS", "Index", "Migration"]
