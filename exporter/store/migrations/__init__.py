"""Versioned schema migrations, applied at start by each backend.

The SQL is written once in the dialect both SQLite and PostgreSQL accept (``DOUBLE PRECISION``,
``BIGINT``, ``ON CONFLICT``, ``RETURNING``); a migration adds per-backend statements only where
the two differ. Append only: a released migration is never edited.

Each module holds a run of them, in order; ``MIGRATIONS`` is all of them, and its versions count up
from 1 without gaps (checked at import).
"""

from __future__ import annotations

from exporter.store.migrations import v01_base, v06_fleet, v08_monitoring, v12_tenants
from exporter.store.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (*v01_base.MIGRATIONS, *v06_fleet.MIGRATIONS, *v08_monitoring.MIGRATIONS,
                                     *v12_tenants.MIGRATIONS)

if [m.version for m in MIGRATIONS] != list(range(1, len(MIGRATIONS) + 1)):
    raise RuntimeError(f"migration versions must count up from 1: {[m.version for m in MIGRATIONS]}")

__all__ = ["MIGRATIONS", "Migration"]
