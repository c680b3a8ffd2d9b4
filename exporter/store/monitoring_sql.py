"""The evaluator's durable memory: a mixin for ``SqlStore`` (its queries, written once for both backends).

``monitoring_snapshots`` keeps each replica's recent window snapshots (one encoded row per
evaluation, pruned to the window), ``alert_states`` each replica's alerts as of their last
change. A restarted evaluator reads its own rows back (``monitoring/restore.py``); every row
carries the replica's instance id, so an evaluator may later read the others' rows too.
"""
# ruff: noqa: S608  (f-strings splice the constant column list only; values are bound)

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import AlertStateRow, SnapshotRow

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
