"""Migration 12: tenants provisioned over the API, revision counters, idempotency keys."""

from __future__ import annotations

from exporter.store.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        12,
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
