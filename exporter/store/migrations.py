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
        2,
        "audit log: events in per-tenant hash chains, chain heads, checkpoints",
        (
            # Text columns are NOT NULL with '' for "none", so the canonical form that is hashed has
            # one spelling per value; ``details`` is the canonical JSON text exactly as hashed.
            """CREATE TABLE audit_events (
                tenant_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                id TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                action TEXT NOT NULL,
                actor_type TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                actor_name TEXT NOT NULL,
                actor_role TEXT NOT NULL,
                target_type TEXT NOT NULL,
                target_id TEXT NOT NULL,
                target_name TEXT NOT NULL,
                outcome TEXT NOT NULL,
                reason TEXT NOT NULL,
                request_id TEXT NOT NULL,
                source_ip TEXT NOT NULL,
                user_agent TEXT NOT NULL,
                details TEXT NOT NULL,
                schema_version TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                PRIMARY KEY (tenant_id, seq)
            )""",
            "CREATE INDEX audit_events_tenant_time ON audit_events (tenant_id, time, id)",
            "CREATE INDEX audit_events_time ON audit_events (time, id)",
            # One row per tenant: the chain's head (locked by writers) and the retention anchor,
            # i.e. the hash of the last record deleted by retention (the first kept record's prev_hash).
            """CREATE TABLE audit_chain_heads (
                tenant_id TEXT PRIMARY KEY,
                seq BIGINT NOT NULL,
                hash TEXT NOT NULL,
                anchor_seq BIGINT NOT NULL,
                anchor_hash TEXT NOT NULL,
                anchor_signature TEXT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE audit_checkpoints (
                tenant_id TEXT PRIMARY KEY,
                seq BIGINT NOT NULL,
                hash TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                signature TEXT NOT NULL
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
    Migration(
        4,
        "SLA: probe results summed per service, UTC day and observer; breaches",
        (
            # Additive sums (each replica upserts its own rows): a result stands for its interval
            # before it, split at UTC midnight; times in milliseconds.
            """CREATE TABLE sla_probe_days (
                service TEXT NOT NULL,
                day TEXT NOT NULL,
                observer TEXT NOT NULL,
                results BIGINT NOT NULL,
                failures BIGINT NOT NULL,
                observed_ms BIGINT NOT NULL,
                down_ms BIGINT NOT NULL,
                degraded_ms BIGINT NOT NULL,
                PRIMARY KEY (service, day, observer)
            )""",
            "CREATE INDEX sla_probe_days_day ON sla_probe_days (day)",
            """CREATE TABLE sla_breaches (
                id TEXT PRIMARY KEY,
                service TEXT NOT NULL,
                observer TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                last_failure_at DOUBLE PRECISION NOT NULL,
                failures BIGINT NOT NULL,
                ended_at DOUBLE PRECISION,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX sla_breaches_ended ON sla_breaches (ended_at)",
            "CREATE INDEX sla_breaches_started ON sla_breaches (started_at)",
        ),
    ),
    Migration(
        5,
        "alert acknowledgements mirrored as Alertmanager silences",
        (
            # the silence that mirrors an acknowledgement, and when this service saw it end (expired
            # by us after the alert resolved, or by someone in Alertmanager, which ends the acknowledgement)
            "ALTER TABLE alert_acknowledgements ADD COLUMN silence_id TEXT",
            "ALTER TABLE alert_acknowledgements ADD COLUMN silence_ended_at DOUBLE PRECISION",
        ),
    ),
    Migration(
        6,
        "tenants provisioned over the API, revision counters, idempotency keys",
        (
            # ``spec`` is the tenant as written (canonical JSON of tenancy.spec.TenantSpec); a deleted
            # tenant stays as a tombstone (``deleted_at``) so that its id, its keys and its audit chain
            # are never taken over by a new tenant. ``revision`` orders every change, for replicas to
            # fetch what changed since the revision they have.
            """CREATE TABLE tenants (
                id TEXT PRIMARY KEY,
                spec TEXT NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                deleted_at DOUBLE PRECISION,
                revision BIGINT NOT NULL
            )""",
            "CREATE UNIQUE INDEX tenants_revision ON tenants (revision)",
            # One row per kind of shared state whose changes replicas poll for (``tenants`` here);
            # a writer bumps it in the transaction that makes the change, so revisions commit in order.
            """CREATE TABLE revisions (
                name TEXT PRIMARY KEY,
                revision BIGINT NOT NULL
            )""",
            "INSERT INTO revisions (name, revision) VALUES ('tenants', 0)",
            # The first answer to a create sent with ``Idempotency-Key``, per caller (``scope``), replayed
            # for a retry with the same body; kept a day.
            """CREATE TABLE idempotency_keys (
                scope TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status INTEGER NOT NULL,
                body TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (scope, key)
            )""",
            "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
        ),
    ),
)
