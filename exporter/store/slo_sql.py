"""Request-SLO counts in the store: a mixin for ``SqlStore`` (its queries, written once for both backends).

``slo_request_days`` holds additive counts of valid and bad requests per (SLO, tenant, UTC day,
replica): each replica adds the deltas it counted since its last flush, in one transaction, never
a write per request. Replicas count disjoint requests, so a day's figure is the sum over replicas.
"""
# ruff: noqa: S608  (f-strings splice the constant column list only; values are bound)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import SloDayRow

_COLUMNS = "slo, tenant, day, observer, valid, bad"


class SloStore(Protocol):
    """The request-SLO part of the ``Store`` protocol."""

    async def add_slo_days(self, rows: Sequence[SloDayRow]) -> None:
        """Add each row's counts to the stored ones (insert when new), all in one transaction."""
        ...

    async def slo_days(self, since_day: str) -> list[SloDayRow]:
        """Every row of ``since_day`` and later."""
        ...


class SloSqlMixin:
    async def add_slo_days(self: Primitives, rows: Sequence[SloDayRow]) -> None:
        if not rows:
            return
        async with self.transaction() as tx:
            await tx.executemany(
                f"INSERT INTO slo_request_days ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (slo, tenant, day, observer) DO UPDATE SET "
                "valid = slo_request_days.valid + excluded.valid, bad = slo_request_days.bad + excluded.bad",
                [astuple(r) for r in sorted(rows, key=lambda r: (r.slo, r.tenant, r.day, r.observer))],
            )

    async def slo_days(self: Primitives, since_day: str) -> list[SloDayRow]:
        rows = await self.fetch(
            f"SELECT {_COLUMNS} FROM slo_request_days WHERE day >= ? ORDER BY slo, tenant, day, observer", since_day)
        return [SloDayRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]
