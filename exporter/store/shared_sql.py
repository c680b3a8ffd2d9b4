"""What replicas keep in common besides usage and audit: custom metric series and the Alertmanager notifications
received. A mixin for ``SqlStore`` (its queries, written once for both backends).

``custom_metric_series`` holds each series' latest sample. A replica writes the series it received
in batches (``save_custom_series``); a conditional upsert keeps the newer sample by its timestamp,
whichever replica writes last. ``written_at`` is when the batch was written, by the writer's
clock: readers ask for what was written since their last read, less a margin for transactions
still committing and for clocks a little apart (``custom_series_written_since``).

``alertmanager_notifications`` keeps the last notifications received by any replica, newest by id.
"""
# ruff: noqa: S608  (f-strings splice the constant column list only; values are bound)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import CustomSeriesRow

_SERIES = "tenant_id, name, labels, value, sample_at, updated_at"


class SharedStore(Protocol):
    """The custom-metric and notification part of the ``Store`` protocol."""

    async def save_custom_series(self, rows: Sequence[CustomSeriesRow], written_at: float) -> None:
        """Upsert each series' sample unless the stored one is newer by its timestamp, in one transaction."""
        ...

    async def custom_series_written_since(self, since: float, updated_since: float) -> list[CustomSeriesRow]:
        """Series written at ``since`` or later and updated at ``updated_since`` or later."""
        ...

    async def delete_custom_series(self, updated_before: float) -> None:
        """Forget series no replica has received a sample of since ``updated_before``."""
        ...

    async def add_notification(self, received_at: float, body: str, keep: int) -> None:
        """Keep a received notification (``body``: its JSON) and only the ``keep`` newest."""
        ...

    async def notifications(self, limit: int) -> list[str]:
        """The bodies of the newest ``limit`` notifications, newest first."""
        ...


class SharedSqlMixin:
    async def save_custom_series(self: Primitives, rows: Sequence[CustomSeriesRow], written_at: float) -> None:
        if not rows:
            return
        async with self.transaction() as tx:
            # sorted, so that replicas writing at once take row locks in the same order
            await tx.executemany(
                f"INSERT INTO custom_metric_series ({_SERIES}, written_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, name, labels) DO UPDATE SET value = excluded.value, "
                "sample_at = excluded.sample_at, updated_at = excluded.updated_at, written_at = excluded.written_at "
                "WHERE excluded.sample_at >= custom_metric_series.sample_at",
                [(*astuple(row), written_at) for row in sorted(rows, key=lambda r: (r.tenant_id, r.name, r.labels))],
            )

    async def custom_series_written_since(self: Primitives, since: float,
                                          updated_since: float) -> list[CustomSeriesRow]:
        rows = await self.fetch(
            f"SELECT {_SERIES} FROM custom_metric_series WHERE written_at >= ? AND updated_at >= ?",
            since, updated_since,
        )
        return [CustomSeriesRow(*row) for row in rows]

    async def delete_custom_series(self: Primitives, updated_before: float) -> None:
        await self.execute("DELETE FROM custom_metric_series WHERE updated_at < ?", updated_before)

    async def add_notification(self: Primitives, received_at: float, body: str, keep: int) -> None:
        async with self.transaction() as tx:
            await tx.execute("INSERT INTO alertmanager_notifications (received_at, body) VALUES (?, ?)",
                             received_at, body)
            await tx.execute(
                "DELETE FROM alertmanager_notifications WHERE id <= "
                "(SELECT id FROM alertmanager_notifications ORDER BY id DESC LIMIT 1 OFFSET ?)", keep,
            )

    async def notifications(self: Primitives, limit: int) -> list[str]:
        rows = await self.fetch("SELECT body FROM alertmanager_notifications ORDER BY id DESC LIMIT ?", limit)
        return [str(row[0]) for row in rows]
