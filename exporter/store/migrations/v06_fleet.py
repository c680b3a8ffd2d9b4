"""Migrations 6-7: what every replica shares: changes to apply (config reloads), custom metric series,
Alertmanager notifications."""

from __future__ import annotations

from exporter.store.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        6,
        "changes every replica applies: a generation per topic (config reloads)",
        (
            """CREATE TABLE fleet_changes (
                topic TEXT PRIMARY KEY,
                generation BIGINT NOT NULL,
                version TEXT NOT NULL,
                origin TEXT NOT NULL,
                changed_at DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
    Migration(
        7,
        "custom metric series and Alertmanager notifications, shared by every replica",
        (
            """CREATE TABLE custom_metric_series (
                tenant_id TEXT NOT NULL,
                name TEXT NOT NULL,
                labels TEXT NOT NULL,
                value DOUBLE PRECISION NOT NULL,
                sample_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                written_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant_id, name, labels)
            )""",
            "CREATE INDEX custom_metric_series_written ON custom_metric_series (written_at)",
            "CREATE INDEX custom_metric_series_updated ON custom_metric_series (updated_at)",
        ),
        sqlite_only=(
            """CREATE TABLE alertmanager_notifications (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                received_at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            )""",
        ),
        postgres_only=(
            """CREATE TABLE alertmanager_notifications (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                received_at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            )""",
        ),
    ),
)
