"""SLA records in the store: a mixin for ``SqlStore`` (its queries, written once for both backends).

``sla_probe_days`` holds additive sums of probe results per (service, UTC day, observer): the
tracker adds a batch of deltas every few seconds in one transaction, never a write per probe.
``sla_breaches`` holds outage incidents, inserted when a run of failures qualifies and updated
as it grows and ends. ``sla_sessions`` holds each replica's runs per service (from when, until
its latest heartbeat): the time no session covers was observed by nobody.
"""
# ruff: noqa: S608  (f-strings splice the constant column lists only; values are bound)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import BreachRow, ProbeDayRow, SessionRow

_DAY_COLUMNS = "service, day, observer, results, failures, observed_ms, down_ms, degraded_ms"
_BREACH_COLUMNS = "id, service, observer, started_at, last_failure_at, failures, ended_at, detail"
_SESSION_COLUMNS = "id, service, observer, started_at, observed_until"


class SlaStore(Protocol):
    """The SLA part of the ``Store`` protocol."""

    async def add_probe_days(self, rows: Sequence[ProbeDayRow]) -> None:
        """Add each row's sums to the stored ones (insert when new), all in one transaction."""
        ...

    async def probe_days(self, since_day: str) -> list[ProbeDayRow]:
        """Every row of ``since_day`` and later."""
        ...

    async def save_breaches(self, rows: Sequence[BreachRow]) -> None:
        """Insert new breaches, update known ones (last failure, failures, end)."""
        ...

    async def breaches_since(self, since: float) -> list[BreachRow]:
        """Breaches still open or ended at ``since`` or later, oldest first."""
        ...

    async def close_open_breaches(self, observer: str) -> None:
        """End this observer's open breaches at their last failure (it restarted and lost their runs)."""
        ...

    async def save_sessions(self, rows: Sequence[SessionRow]) -> None:
        """Insert new sessions; move known ones' ``observed_until`` forward (a heartbeat), never back."""
        ...

    async def sessions_since(self, since: float) -> list[SessionRow]:
        """Sessions observed at ``since`` or later, earliest first."""
        ...

    async def first_sessions(self) -> dict[str, float]:
        """When each service was first observed by any replica (monitoring began)."""
        ...


class SlaSqlMixin:
    async def add_probe_days(self: Primitives, rows: Sequence[ProbeDayRow]) -> None:
        if not rows:
            return
        async with self.transaction() as tx:
            for row in sorted(rows, key=lambda r: (r.service, r.day, r.observer)):  # one lock order: no deadlock
                await tx.execute(
                    f"INSERT INTO sla_probe_days ({_DAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (service, day, observer) DO UPDATE SET "
                    "results = sla_probe_days.results + excluded.results, "
                    "failures = sla_probe_days.failures + excluded.failures, "
                    "observed_ms = sla_probe_days.observed_ms + excluded.observed_ms, "
                    "down_ms = sla_probe_days.down_ms + excluded.down_ms, "
                    "degraded_ms = sla_probe_days.degraded_ms + excluded.degraded_ms",
                    *astuple(row),
                )

    async def probe_days(self: Primitives, since_day: str) -> list[ProbeDayRow]:
        rows = await self.fetch(
            f"SELECT {_DAY_COLUMNS} FROM sla_probe_days WHERE day >= ? ORDER BY service, day, observer", since_day
        )
        return [ProbeDayRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7])) for r in rows]

    async def save_breaches(self: Primitives, rows: Sequence[BreachRow]) -> None:
        if not rows:
            return
        async with self.transaction() as tx:
            for row in sorted(rows, key=lambda r: r.id):
                await tx.execute(
                    f"INSERT INTO sla_breaches ({_BREACH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET last_failure_at = excluded.last_failure_at, "
                    "failures = excluded.failures, ended_at = excluded.ended_at",
                    *astuple(row),
                )

    async def breaches_since(self: Primitives, since: float) -> list[BreachRow]:
        rows = await self.fetch(
            f"SELECT {_BREACH_COLUMNS} FROM sla_breaches WHERE ended_at IS NULL OR ended_at >= ? "
            "ORDER BY started_at, id", since,
        )
        return [BreachRow(r[0], r[1], r[2], float(r[3]), float(r[4]), int(r[5]),
                          None if r[6] is None else float(r[6]), r[7]) for r in rows]

    async def close_open_breaches(self: Primitives, observer: str) -> None:
        await self.execute(
            "UPDATE sla_breaches SET ended_at = last_failure_at WHERE observer = ? AND ended_at IS NULL", observer
        )

    async def save_sessions(self: Primitives, rows: Sequence[SessionRow]) -> None:
        if rows:
            await self.executemany(
                f"INSERT INTO sla_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id, service) DO UPDATE SET observed_until = excluded.observed_until "
                "WHERE excluded.observed_until > sla_sessions.observed_until",
                [astuple(r) for r in sorted(rows, key=lambda r: (r.id, r.service))],
            )

    async def sessions_since(self: Primitives, since: float) -> list[SessionRow]:
        rows = await self.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sla_sessions WHERE observed_until >= ? ORDER BY started_at, id, service",
            since,
        )
        return [SessionRow(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4])) for r in rows]

    async def first_sessions(self: Primitives) -> dict[str, float]:
        rows = await self.fetch("SELECT service, MIN(started_at) FROM sla_sessions GROUP BY service")
        return {str(r[0]): float(r[1]) for r in rows}
