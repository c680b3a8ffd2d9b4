"""Changes one replica makes that every replica must apply: a generation per topic, in a mixin for ``SqlStore``.

``publish_change`` counts a topic's generation up in one statement (an upsert with ``RETURNING``), so
replicas publishing at once each get a generation of their own; ``fleet_changes`` is what a replica
polls (``change_feed.py``).
"""

from __future__ import annotations

from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import FleetChange


class FleetStore(Protocol):
    """The fleet part of the ``Store`` protocol."""

    async def publish_change(self, topic: str, version: str, origin: str, at: float) -> FleetChange:
        """Count ``topic``'s generation up and record who changed it to what."""
        ...

    async def fleet_changes(self) -> dict[str, FleetChange]:
        """The latest change of every topic."""
        ...


class FleetSqlMixin:
    async def publish_change(self: Primitives, topic: str, version: str, origin: str, at: float) -> FleetChange:
        rows = await self.fetch(
            "INSERT INTO fleet_changes (topic, generation, version, origin, changed_at) VALUES (?, 1, ?, ?, ?) "
            "ON CONFLICT (topic) DO UPDATE SET generation = fleet_changes.generation + 1, "
            "version = excluded.version, origin = excluded.origin, changed_at = excluded.changed_at "
            "RETURNING topic, generation, version, origin, changed_at",
            topic, version, origin, at,
        )
        return FleetChange(*rows[0])

    async def fleet_changes(self: Primitives) -> dict[str, FleetChange]:
        rows = await self.fetch("SELECT topic, generation, version, origin, changed_at FROM fleet_changes")
        return {row[0]: FleetChange(*row) for row in rows}
