"""Versioned schema migrations, applied at start by each backend.

The SQL is written once in the dialect both SQLite and PostgreSQL accept (``DOUBLE PRECISION``,
``BIGINT``, ``ON CONFLICT``, ``RETURNING``); a migration adds per-backend statements only where
the two differ. Append only: a released migration is never edited.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    sqlite_only: tuple[str, ...] = ()
    postgres_only: tuple[str, ...] = ()

    def for_backend(self, backend: str) -> tuple[str, ...]:
        extra = self.sqlite_only if backend == "sqlite" else self.postgres_only
        return self.statements + extra


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "api keys and usage",
        (
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                role TEXT NOT NULL,
                name TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                token_hint TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                last_used_at DOUBLE PRECISION,
                revoked_at DOUBLE PRECISION
            )""",
            "CREATE INDEX api_keys_tenant ON api_keys (tenant_id)",
            """CREATE TABLE usage_monthly (
                tenant_id TEXT NOT NULL,
                month TEXT NOT NULL,
                api_calls BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, month)
            )""",
            """CREATE TABLE usage_reported (
                tenant_id TEXT NOT NULL,
                field TEXT NOT NULL,
                value DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant_id, field)
            )""",
        ),
    ),
    Migration(
        3,
        "alert acknowledgements",
        (
            """CREATE TABLE alert_acknowledgements (
                id TEXT PRIMARY KEY,
                alert_id TEXT NOT NULL,
                alertname TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                key_id TEXT NOT NULL,
                key_name TEXT NOT NULL,
                comment TEXT NOT NULL,
                acknowledged_at DOUBLE PRECISION NOT NULL,
                cleared_at DOUBLE PRECISION
            )""",
            # at most one open acknowledgement per alert
            "CREATE UNIQUE INDEX alert_acknowledgements_open ON alert_acknowledgements (alert_id) "
            "WHERE cleared_at IS NULL",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
