"""Migration 14: one evaluator for the fleet (its lease) and what it publishes for the other replicas."""

from __future__ import annotations

from exporter.store.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        14,
        "one evaluator for the fleet: the lease that elects it and the evaluation it publishes",
        (
            # one row: the replica that evaluates the rules for every replica, until expires_ms unless it renews
            """CREATE TABLE evaluator_lease (
                id INTEGER PRIMARY KEY,
                holder TEXT NOT NULL,
                since_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL
            )""",
        ),
        # one row: the fleet's latest evaluation (figures, alerts, probes), msgpack, which every replica serves
        sqlite_only=("CREATE TABLE fleet_evaluation (id INTEGER PRIMARY KEY, evaluator TEXT NOT NULL, "
                     "t_ms BIGINT NOT NULL, data BLOB NOT NULL)",),
        postgres_only=("CREATE TABLE fleet_evaluation (id INTEGER PRIMARY KEY, evaluator TEXT NOT NULL, "
                       "t_ms BIGINT NOT NULL, data BYTEA NOT NULL)",),
    ),
)
