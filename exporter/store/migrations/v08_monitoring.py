"""Migrations 8-11: the evaluator's durable memory, SLA sessions (unobserved time), request-SLO counts,
incidents and maintenance windows."""

from __future__ import annotations

from exporter.store.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        8,
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
        9,
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
        10,
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
        11,
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
