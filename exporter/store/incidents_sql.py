"""Incidents and maintenance windows in the store: a mixin for ``SqlStore`` (queries written once for both backends).

``incidents`` holds the status page's incidents; at most one open incident per source (a partial
unique index), so replicas that see the same alert or breach open one incident, not two.
``incident_updates`` holds their public updates. ``maintenance_windows`` holds the windows made
through the API (cancelled ones stay, marked).
"""
# ruff: noqa: S608  (f-strings splice the constant column lists and "?" marks only; values are bound)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any, Protocol

from exporter.store.primitives import Primitives, Row
from exporter.store.records import IncidentRow, IncidentUpdateRow, MaintenanceRow

_INCIDENT = "id, source_key, name, impact, components, status, started_at, updated_at, resolved_at, seen_at"
_UPDATE = "id, incident_id, status, body, at"
_MAINTENANCE = "id, name, services, starts_at, ends_at, description, created_by, created_at, cancelled_at"


def _incident(r: Row) -> IncidentRow:
    return IncidentRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[6]), float(r[7]),
                       None if r[8] is None else float(r[8]), float(r[9]))


def _maintenance(r: Row) -> MaintenanceRow:
    return MaintenanceRow(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4]), str(r[5]), str(r[6]),
                          float(r[7]), None if r[8] is None else float(r[8]))


class IncidentStore(Protocol):
    async def open_incident(self, row: IncidentRow, update: IncidentUpdateRow) -> tuple[IncidentRow, bool]:
        """Open ``row`` with its first update unless its source has an open incident; the open one, and whether
        this call opened it."""
        ...

    async def update_incident(self, incident_id: str, status: str, update: IncidentUpdateRow) -> bool:
        """Add an update and set the status of an open incident (``resolved`` closes it); False if it was closed."""
        ...

    async def incidents_since(self, since: float) -> list[tuple[IncidentRow, list[IncidentUpdateRow]]]:
        """Open incidents and those resolved at ``since`` or later, each with its updates (oldest first)."""
        ...

    async def incidents_seen(self, incident_ids: Sequence[str], at: float) -> None:
        """These open incidents' sources were seen going on at ``at``."""
        ...

    async def save_maintenance(self, row: MaintenanceRow) -> None: ...

    async def cancel_maintenance(self, window_id: str, at: float) -> MaintenanceRow | None:
        """Mark a window cancelled (idempotent); None if there is no such window."""
        ...

    async def maintenance_windows(self, ending_after: float) -> list[MaintenanceRow]:
        """Windows not cancelled that end at ``ending_after`` or later, by start."""
        ...


class IncidentSqlMixin:
    async def open_incident(self: Primitives, row: IncidentRow, update: IncidentUpdateRow,
                            ) -> tuple[IncidentRow, bool]:
        async with self.transaction() as tx:
            await tx.execute(f"INSERT INTO incidents ({_INCIDENT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT DO NOTHING", *astuple(row))
            found = await tx.fetch(f"SELECT {_INCIDENT} FROM incidents WHERE source_key = ? AND resolved_at IS NULL",
                                   row.source_key)
            opened = bool(found) and found[0][0] == row.id
            if opened:
                await tx.execute(f"INSERT INTO incident_updates ({_UPDATE}) VALUES (?, ?, ?, ?, ?)", *astuple(update))
        return (_incident(found[0]) if found else row), opened

    async def update_incident(self: Primitives, incident_id: str, status: str, update: IncidentUpdateRow) -> bool:
        async with self.transaction() as tx:
            found = await tx.fetch("SELECT id FROM incidents WHERE id = ? AND resolved_at IS NULL", incident_id)
            if not found:
                return False
            resolved: Any = update.at if status == "resolved" else None
            await tx.execute("UPDATE incidents SET status = ?, updated_at = ?, resolved_at = ? WHERE id = ?",
                             status, update.at, resolved, incident_id)
            await tx.execute(f"INSERT INTO incident_updates ({_UPDATE}) VALUES (?, ?, ?, ?, ?)", *astuple(update))
        return True

    async def incidents_since(self: Primitives, since: float) -> list[tuple[IncidentRow, list[IncidentUpdateRow]]]:
        rows = [_incident(r) for r in await self.fetch(
            f"SELECT {_INCIDENT} FROM incidents WHERE resolved_at IS NULL OR resolved_at >= ? ORDER BY started_at, id",
            since)]
        if not rows:
            return []
        marks = ", ".join("?" for _ in rows)
        updates: dict[str, list[IncidentUpdateRow]] = {}
        for r in await self.fetch(f"SELECT {_UPDATE} FROM incident_updates WHERE incident_id IN ({marks}) "
                                  "ORDER BY at, id", *(row.id for row in rows)):
            updates.setdefault(str(r[1]), []).append(IncidentUpdateRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]),
                                                                       float(r[4])))
        return [(row, updates.get(row.id, [])) for row in rows]

    async def incidents_seen(self: Primitives, incident_ids: Sequence[str], at: float) -> None:
        ids = sorted(set(incident_ids))
        if ids:
            marks = ", ".join("?" for _ in ids)
            await self.execute(f"UPDATE incidents SET seen_at = ? WHERE resolved_at IS NULL AND seen_at < ? "
                               f"AND id IN ({marks})", at, at, *ids)

    async def save_maintenance(self: Primitives, row: MaintenanceRow) -> None:
        await self.execute(f"INSERT INTO maintenance_windows ({_MAINTENANCE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           *astuple(row))

    async def cancel_maintenance(self: Primitives, window_id: str, at: float) -> MaintenanceRow | None:
        async with self.transaction() as tx:
            await tx.execute("UPDATE maintenance_windows SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL",
                             at, window_id)
            found = await tx.fetch(f"SELECT {_MAINTENANCE} FROM maintenance_windows WHERE id = ?", window_id)
        return _maintenance(found[0]) if found else None

    async def maintenance_windows(self: Primitives, ending_after: float) -> list[MaintenanceRow]:
        rows = await self.fetch(f"SELECT {_MAINTENANCE} FROM maintenance_windows WHERE cancelled_at IS NULL "
                                "AND ends_at >= ? ORDER BY starts_at, id", ending_after)
        return [_maintenance(r) for r in rows]
