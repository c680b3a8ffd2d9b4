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
        "the evaluator's durable memory: window snapshots and alert states, per replica",
        (
            # each replica's alerts as of their last change (pending, firing, resolved), so that a restarted
            # evaluator keeps their active_at and a firing alert stays firing; times in milliseconds
            """CREATE TABLE alert_states (
                instance TEXT NOT NULL,
                alert_id TEXT NOT NULL,
                alertname TEXT NOT NULL,
                severity TEXT NOT NULL,
                labels TEXT NOT NULL,
                state TEXT NOT NULL,
                value DOUBLE PRECISION NOT NULL,
                active_at_ms BIGINT NOT NULL,
                fired_at_ms BIGINT,
                resolved_at_ms BIGINT,
                updated_ms BIGINT NOT NULL,
                PRIMARY KEY (instance, alert_id)
            )""",
        ),
        # one row per evaluation and replica: the snapshot of the metric families, compressed; pruned to the window
        sqlite_only=("CREATE TABLE monitoring_snapshots (instance TEXT NOT NULL, t_ms BIGINT NOT NULL, "
                     "data BLOB NOT NULL, PRIMARY KEY (instance, t_ms))",),
        postgres_only=("CREATE TABLE monitoring_snapshots (instance TEXT NOT NULL, t_ms BIGINT NOT NULL, "
                       "data BYTEA NOT NULL, PRIMARY KEY (instance, t_ms))",),
    ),
    Migration(
        7,
        "SLA: each replica's runs per service (heartbeats), so unobserved time is known",
        (
            # one row per replica run and service, its observed_until moved forward by a heartbeat every
            # SLA_FLUSH_INTERVAL: the time no row covers was observed by nobody (the service was not running)
            """CREATE TABLE sla_sessions (
                id TEXT NOT NULL,
                service TEXT NOT NULL,
                observer TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                observed_until DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (id, service)
            )""",
            "CREATE INDEX sla_sessions_until ON sla_sessions (observed_until)",
        ),
    ),
    Migration(
        8,
        "request and latency SLOs: counts of valid and bad requests per SLO, tenant, UTC day and replica",
        (
            # additive counts (each replica upserts the deltas it counted since its last flush); tenant is ''
            # unless the SLO is per tenant
            """CREATE TABLE slo_request_days (
                slo TEXT NOT NULL,
                tenant TEXT NOT NULL,
                day TEXT NOT NULL,
                observer TEXT NOT NULL,
                valid BIGINT NOT NULL,
                bad BIGINT NOT NULL,
                PRIMARY KEY (slo, tenant, day, observer)
            )""",
            "CREATE INDEX slo_request_days_day ON slo_request_days (day)",
        ),
    ),
    Migration(
        9,
        "incidents and their public updates; scheduled maintenance windows; an acknowledgement's public message",
        (
            # what the operator chose to tell the status page when acknowledging ('' : nothing)
            "ALTER TABLE alert_acknowledgements ADD COLUMN public_message TEXT NOT NULL DEFAULT ''",
            """CREATE TABLE incidents (
                id TEXT PRIMARY KEY,
                source_key TEXT NOT NULL,
                name TEXT NOT NULL,
                impact TEXT NOT NULL,
                components TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                resolved_at DOUBLE PRECISION,
                seen_at DOUBLE PRECISION NOT NULL
            )""",
            # seen_at: when a replica last saw its source going on (an open incident nobody reports ends)
            # at most one open incident per source (an alert's episode, a breach): replicas open it once
            "CREATE UNIQUE INDEX incidents_open ON incidents (source_key) WHERE resolved_at IS NULL",
            "CREATE INDEX incidents_resolved ON incidents (resolved_at)",
            """CREATE TABLE incident_updates (
                id TEXT PRIMARY KEY,
                incident_id TEXT NOT NULL,
                status TEXT NOT NULL,
                body TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX incident_updates_incident ON incident_updates (incident_id, at)",
            """CREATE TABLE maintenance_windows (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                services TEXT NOT NULL,
                starts_at DOUBLE PRECISION NOT NULL,
                ends_at DOUBLE PRECISION NOT NULL,
                description TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                cancelled_at DOUBLE PRECISION
            )""",
            "CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at)",
        ),
    ),
)
