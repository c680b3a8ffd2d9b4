"""The queries, written once for both backends (``?`` placeholders; PostgreSQL rewrites them).

A backend subclasses ``SqlStore`` and supplies four primitives: ``fetch``, ``execute``,
``executemany`` and ``transaction``; everything the Store protocol promises is built here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from exporter.store.alerts_sql import AlertsSqlMixin
from exporter.store.audit_search import AuditSearchMixin
from exporter.store.audit_sql import AuditSqlMixin
from exporter.store.fleet_sql import FleetSqlMixin
from exporter.store.incidents_sql import IncidentSqlMixin
from exporter.store.migrations import MIGRATIONS, Index, Migration
from exporter.store.monitoring_sql import MonitoringSqlMixin
from exporter.store.primitives import Primitives, Row, Tx
from exporter.store.records import ApiKeyRecord
from exporter.store.shared_sql import SharedSqlMixin
from exporter.store.sla_sql import SlaSqlMixin
from exporter.store.slo_sql import SloSqlMixin
from exporter.store.tenants_sql import TenantsSqlMixin

_KEY_COLUMNS = "id, tenant_id, role, name, token_hash, token_hint, created_at, last_used_at, revoked_at"


def declared_indexes(migrations: Sequence[Migration]) -> list[Index]:
    return [index for migration in migrations for index in migration.indexes]


class SqlStore(AuditSqlMixin, AuditSearchMixin, AlertsSqlMixin, IncidentSqlMixin, MonitoringSqlMixin, SlaSqlMixin,
               SloSqlMixin, FleetSqlMixin, SharedSqlMixin, TenantsSqlMixin):
    backend: str = "sql"

    # --- primitives, supplied by each backend -------------------------------------------
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        raise NotImplementedError

    async def execute(self, sql: str, *args: Any) -> None:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def maintenance(self) -> AbstractAsyncContextManager[Primitives]:
        """Primitives for schema work, without the store timeout (an index build may take minutes)."""
        raise NotImplementedError

    async def build_indexes(self, indexes: Sequence[Index], *, online: bool) -> None:
        """Build the missing ``indexes``: at start-up (``online=False``) those that may block writes
        (SQLite: all; PostgreSQL: those on small tables), in the background the rest, concurrently."""
        raise NotImplementedError

    # --- schema ---------------------------------------------------------------------------
    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> int:
        """Apply pending migrations; return the schema version (see ``migrations.py``).

        Finding out that nothing is pending takes a statement or two within the store timeout, so
        a start against a database that does not answer still fails fast. Pending migrations run
        on ``maintenance()`` primitives, with no deadline: a schema change may take minutes.
        """
        await self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {row[0] for row in await self.fetch("SELECT version FROM schema_migrations")}
        if any(m.version not in done for m in migrations):
            async with self.maintenance() as session, session.transaction() as tx:
                await self._lock_migrations(tx)
                done = {row[0] for row in await tx.fetch("SELECT version FROM schema_migrations")}
                for migration in migrations:
                    if migration.version in done:
                        continue
                    for statement in migration.for_backend(self.backend):
                        await tx.execute(statement)
                    await tx.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        migration.version, migration.name, time.time(),
                    )
        await self.build_indexes(declared_indexes(migrations), online=False)
        return migrations[-1].version

    async def migrate_online(self, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        """What start-up leaves to the background: PostgreSQL's indexes (built concurrently) and the
        first filling of the audit search index (SQLite). Safe to run again, and in several replicas."""
        await self.build_indexes(declared_indexes(migrations), online=True)
        await self.fill_search_index()

    async def _lock_migrations(self, tx: Tx) -> None:
        """Serialise concurrent migrators (several replicas starting at once)."""

    async def ping(self) -> None:
        await self.fetch("SELECT 1")

    # --- API keys -------------------------------------------------------------------------
    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        await self.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            record.id, record.tenant_id, record.role, record.name, record.token_hash,
            record.token_hint, record.created_at, record.last_used_at, record.revoked_at,
        )

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKeyRecord]:
        if tenant_id is None:
            rows = await self.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id")
        else:
            rows = await self.fetch(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id", tenant_id
            )
        return [ApiKeyRecord(*row) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        async with self.transaction() as tx:
            await tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", at, key_id
            )
            rows = await tx.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", key_id)
        return ApiKeyRecord(*rows[0]) if rows else None

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", key_id)
        return ApiKeyRecord(*rows[0]) if rows else None

    async def api_keys_page(self, *, tenant_id: str | None, after: str | None, limit: int,
                            include_revoked: bool) -> list[ApiKeyRecord]:
        clauses, args = ["id > ?"], [after or ""]
        if tenant_id is not None:
            clauses.append("tenant_id = ?")
            args.append(tenant_id)
        if not include_revoked:
            clauses.append("revoked_at IS NULL")
        rows = await self.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE {' AND '.join(clauses)} "
                                "ORDER BY id LIMIT ?", *args, limit)
        return [ApiKeyRecord(*row) for row in rows]

    async def find_api_key(self, token_hash: str) -> ApiKeyRecord | None:
        rows = await self.fetch(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL", token_hash
        )
        return ApiKeyRecord(*rows[0]) if rows else None

    async def touch_api_keys(self, last_used: Mapping[str, float]) -> None:
        if last_used:
            await self.executemany(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                [(at, key_id) for key_id, at in sorted(last_used.items())],
            )

    # --- usage ----------------------------------------------------------------------------
    async def add_api_calls(self, deltas: Mapping[tuple[str, str], int]) -> None:
        async with self.transaction() as tx:
            # sorted, so that replicas flushing at once take row locks in the same order
            await tx.executemany(
                "INSERT INTO usage_monthly (tenant_id, month, api_calls) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant_id, month) DO UPDATE "
                "SET api_calls = usage_monthly.api_calls + excluded.api_calls",
                [(tenant_id, month, delta) for (month, tenant_id), delta in sorted(deltas.items())],
            )

    async def api_calls(self, month: str, *, after: str = "", limit: int | None = None) -> dict[str, int]:
        page = "" if limit is None else f" ORDER BY tenant_id LIMIT {int(limit)}"
        rows = await self.fetch(
            f"SELECT tenant_id, api_calls FROM usage_monthly WHERE month = ? AND tenant_id > ?{page}", month, after)
        return {row[0]: int(row[1]) for row in rows}

    async def reported_usage(self, *, after: str = "", limit: int | None = None) -> dict[str, dict[str, float]]:
        tenants = "tenant_id > ?" if limit is None else (
            f"tenant_id IN (SELECT DISTINCT tenant_id FROM usage_reported WHERE tenant_id > ? "
            f"ORDER BY tenant_id LIMIT {int(limit)})")
        out: dict[str, dict[str, float]] = {}
        for tenant_id, field, value in await self.fetch(
                f"SELECT tenant_id, field, value FROM usage_reported WHERE {tenants} ORDER BY tenant_id", after):
            out.setdefault(tenant_id, {})[field] = float(value)
        return out

    async def set_reported_usage(self, tenant_id: str, values: Mapping[str, float], at: float) -> None:
        async with self.transaction() as tx:
            await tx.executemany(
                "INSERT INTO usage_reported (tenant_id, field, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, field) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at",
                [(tenant_id, field, float(value), at) for field, value in sorted(values.items())],
            )

