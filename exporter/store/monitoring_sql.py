"""The evaluator's durable memory: a mixin for ``SqlStore`` (its queries, written once for both backends).

``monitoring_snapshots`` keeps each replica's recent window snapshots (one encoded row per
evaluation, pruned to the window), ``alert_states`` each replica's alerts as of their last
change. A restarted evaluator reads its own rows back (``monitoring/restore.py``); every row
carries the replica's instance id, so the fleet's evaluator reads every replica's snapshots.

``evaluator_lease`` elects that evaluator: one row, taken by a replica when it is free or expired
and renewed by its holder at every evaluation; ``fleet_evaluation`` is what the holder publishes
for the others to serve. Lease times are the replicas' own clocks (NTP keeps them within
milliseconds; the lease lasts seconds).
"""
# ruff: noqa: S608  (f-strings splice the constant column list only; values are bound)

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import AlertStateRow, EvaluatorLease, FleetEvaluationRow, SnapshotRow

_STATE_COLUMNS = ("instance, alert_id, alertname, severity, labels, state, value, active_at_ms, fired_at_ms, "
                  "resolved_at_ms, updated_ms")


class MonitoringStore(Protocol):
    """The evaluator's part of the ``Store`` protocol."""

    async def save_snapshots(self, rows: Sequence[SnapshotRow], prune_before_ms: int) -> None:
        """Insert snapshots (a repeated instant replaces the row) and delete the replica's older than the bound."""
        ...

    async def snapshots_since(self, since_ms: int, instance: str | None = None) -> list[SnapshotRow]:
        """Snapshots at ``since_ms`` or later, of one replica or of all, oldest first."""
        ...

    async def save_alert_states(self, rows: Sequence[AlertStateRow]) -> None:
        """Insert or replace alerts, each under its replica and id."""
        ...

    async def alert_states(self, instance: str | None = None) -> list[AlertStateRow]: ...

    async def delete_alert_states(self, instance: str, alert_ids: Iterable[str]) -> None: ...

    async def claim_evaluator(self, instance: str, now_ms: int, ttl_ms: int) -> EvaluatorLease:
        """Take the lease if it is free, expired or ours (renewing it until ``now_ms + ttl_ms``); the holder after."""
        ...

    async def release_evaluator(self, instance: str) -> None:
        """Give the lease up if ``instance`` holds it (a clean stop: another replica takes over at once)."""
        ...

    async def publish_evaluation(self, row: FleetEvaluationRow) -> bool:
        """Replace the fleet's evaluation, only while ``row.evaluator`` holds the lease; whether it did."""
        ...

    async def fleet_evaluation(self) -> FleetEvaluationRow | None: ...


class MonitoringSqlMixin:
    async def save_snapshots(self: Primitives, rows: Sequence[SnapshotRow], prune_before_ms: int) -> None:
        instances = sorted({r.instance for r in rows})
        async with self.transaction() as tx:
            for row in sorted(rows, key=lambda r: (r.instance, r.t_ms)):
                await tx.execute(
                    "INSERT INTO monitoring_snapshots (instance, t_ms, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (instance, t_ms) DO UPDATE SET data = excluded.data", *astuple(row))
            for instance in instances:
                await tx.execute("DELETE FROM monitoring_snapshots WHERE instance = ? AND t_ms < ?", instance,
                                 prune_before_ms)

    async def snapshots_since(self: Primitives, since_ms: int, instance: str | None = None) -> list[SnapshotRow]:
        if instance is None:
            rows = await self.fetch("SELECT instance, t_ms, data FROM monitoring_snapshots WHERE t_ms >= ? "
                                    "ORDER BY t_ms, instance", since_ms)
        else:
            rows = await self.fetch("SELECT instance, t_ms, data FROM monitoring_snapshots WHERE instance = ? "
                                    "AND t_ms >= ? ORDER BY t_ms", instance, since_ms)
        return [SnapshotRow(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    async def save_alert_states(self: Primitives, rows: Sequence[AlertStateRow]) -> None:
        if not rows:
            return
        marks = ", ".join("?" for _ in _STATE_COLUMNS.split(","))
        async with self.transaction() as tx:
            for row in sorted(rows, key=lambda r: (r.instance, r.alert_id)):
                await tx.execute(
                    f"INSERT INTO alert_states ({_STATE_COLUMNS}) VALUES ({marks}) "
                    "ON CONFLICT (instance, alert_id) DO UPDATE SET alertname = excluded.alertname, "
                    "severity = excluded.severity, labels = excluded.labels, state = excluded.state, "
                    "value = excluded.value, active_at_ms = excluded.active_at_ms, "
                    "fired_at_ms = excluded.fired_at_ms, resolved_at_ms = excluded.resolved_at_ms, "
                    "updated_ms = excluded.updated_ms", *astuple(row))

    async def alert_states(self: Primitives, instance: str | None = None) -> list[AlertStateRow]:
        where, args = ("WHERE instance = ? ", (instance,)) if instance is not None else ("", ())
        rows = await self.fetch(f"SELECT {_STATE_COLUMNS} FROM alert_states {where}ORDER BY instance, alert_id",
                                *args)
        return [AlertStateRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[6]),
                              int(r[7]), None if r[8] is None else int(r[8]), None if r[9] is None else int(r[9]),
                              int(r[10])) for r in rows]

    async def delete_alert_states(self: Primitives, instance: str, alert_ids: Iterable[str]) -> None:
        ids = sorted(set(alert_ids))
        if ids:
            marks = ", ".join("?" for _ in ids)
            await self.execute(f"DELETE FROM alert_states WHERE instance = ? AND alert_id IN ({marks})",
                               instance, *ids)

    async def claim_evaluator(self: Primitives, instance: str, now_ms: int, ttl_ms: int) -> EvaluatorLease:
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO evaluator_lease (id, holder, since_ms, expires_ms) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms, "
                "since_ms = CASE WHEN evaluator_lease.holder = excluded.holder THEN evaluator_lease.since_ms "
                "ELSE excluded.since_ms END "
                "WHERE evaluator_lease.holder = excluded.holder OR evaluator_lease.expires_ms < excluded.since_ms",
                instance, now_ms, now_ms + ttl_ms)
            rows = await tx.fetch("SELECT holder, since_ms, expires_ms FROM evaluator_lease WHERE id = 1")
        return EvaluatorLease(str(rows[0][0]), int(rows[0][1]), int(rows[0][2]))

    async def release_evaluator(self: Primitives, instance: str) -> None:
        await self.execute("DELETE FROM evaluator_lease WHERE id = 1 AND holder = ?", instance)

    async def publish_evaluation(self: Primitives, row: FleetEvaluationRow) -> bool:
        async with self.transaction() as tx:
            held = await tx.fetch("SELECT 1 FROM evaluator_lease WHERE id = 1 AND holder = ?", row.evaluator)
            if not held:
                return False
            await tx.execute(
                "INSERT INTO fleet_evaluation (id, evaluator, t_ms, data) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET evaluator = excluded.evaluator, t_ms = excluded.t_ms, "
                "data = excluded.data WHERE fleet_evaluation.t_ms <= excluded.t_ms",  # never an older one
                row.evaluator, row.t_ms, row.data)
        return True

    async def fleet_evaluation(self: Primitives) -> FleetEvaluationRow | None:
        rows = await self.fetch("SELECT evaluator, t_ms, data FROM fleet_evaluation WHERE id = 1")
        return FleetEvaluationRow(str(rows[0][0]), int(rows[0][1]), bytes(rows[0][2])) if rows else None
