"""Incidents: opened by what goes wrong, updated as it changes, durable, shown on the status page for 90 days.

Sources (``sources.py``): an in-process alert of severity ``error`` that fires (impact ``major``:
its component shows ``partial_outage``), and a breach (a probe failing past its threshold, or a
gap nobody observed; impact ``critical``: ``major_outage``). Every evaluation interval ``sync``
brings the incidents in line with them:

- a source going on without an open incident opens one (``investigating``), unless its service is
  in a maintenance window;
- an acknowledged alert moves its incident to ``identified``; the update says the acknowledgement's
  public message if the operator gave one, else a fixed sentence (never the key, its name or the
  private comment);
- a source that ended resolves its incident at its end; one that started and ended between two
  syncs (a gap found at a start) gets both updates at once;
- an open incident whose source no replica has reported for the outage tolerance (its replica
  died, or was stopped longer than that) is resolved as such.

Incidents are written before they are shown and read back from the store at every sync, so
replicas show the same ones and a restart forgets none. At most one open incident per source
(the store's unique index): replicas seeing the same alert or breach open it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.sla.sources import Source
from exporter.store import IncidentRow, IncidentUpdateRow, Store

log = logging.getLogger(__name__)
HISTORY_SECONDS = 90 * 86_400.0


@dataclass(frozen=True, slots=True)
class Incident:
    row: IncidentRow
    updates: tuple[IncidentUpdateRow, ...]  # oldest first

    @property
    def open(self) -> bool:
        return self.row.resolved_at is None

    @property
    def components(self) -> list[str]:
        return [str(c) for c in json.loads(self.row.components)]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


class Incidents:
    def __init__(self, store: Store, clock: Clock, sources: Callable[[], list[Source]],
                 maintenance: MaintenanceSchedule, *, interval: Callable[[], float], forget_after: float) -> None:
        self._store = store
        self._clock = clock
        self._sources = sources
        self._maintenance = maintenance
        self._interval = interval
        self._forget_after = forget_after  # seconds an open incident may go unreported before it ends
        self.current: tuple[Incident, ...] = ()  # open ones and the last 90 days', newest first
        self.version = 0

    async def load(self) -> None:
        await self._read()

    async def _read(self) -> None:
        found = await self._store.incidents_since(self._clock.now() - HISTORY_SECONDS)
        current = tuple(sorted((Incident(row, tuple(updates)) for row, updates in found),
                               key=lambda i: (-i.row.started_at, i.row.id)))
        if current != self.current:
            self.current, self.version = current, self.version + 1

    async def sync(self) -> None:
        """Open, update and resolve incidents to match their sources now (a store failure is retried next time)."""
        now = self._clock.now()
        opened = {i.row.source_key: i for i in self.current if i.open}
        latest: dict[str, Incident] = {}
        for i in self.current:  # newest first: the first of each source is its latest
            latest.setdefault(i.row.source_key, i)
        seen: list[str] = []
        sources = self._sources()
        for source in sources:
            incident = opened.get(source.key)
            if incident is not None and source.ended_at is not None:
                await self._update(incident, "resolved", source.closing, source.ended_at)
            elif incident is not None:
                seen.append(incident.row.id)
                if source.identified is not None and incident.row.status == "investigating":
                    await self._update(incident, "identified", source.identified, now)
            elif source.ended_at is None:
                if any(self._maintenance.active(c, now) for c in source.components):
                    continue  # the service is down on purpose: no incident
                await self._open(source, now)
            elif (last := latest.get(source.key)) is None or (last.row.resolved_at or now) < source.started_at:
                await self._open(source, now)  # it started and ended between two looks
        active = {s.key for s in sources if s.ended_at is None}
        for incident in self.current:
            if incident.open and incident.row.source_key not in active and \
                    now - incident.row.seen_at > self._forget_after:
                await self._update(incident, "resolved", "Resolved: nothing has reported this problem since "
                                   "then.", incident.row.seen_at)
        await self._store.incidents_seen(seen, now)
        await self._read()

    async def _open(self, source: Source, now: float) -> None:
        incident_id = _new_id("inc")
        row = IncidentRow(incident_id, source.key, source.name, source.impact, json.dumps(list(source.components)),
                          "investigating", source.started_at, now, None, now)
        first = IncidentUpdateRow(_new_id("upd"), incident_id, "investigating", source.opening, source.started_at)
        stored, opened = await self._store.open_incident(row, first)
        if opened:
            log.warning("incident opened: %s", source.name)
        if opened and source.ended_at is not None:  # it started and ended between two looks
            await self._store.update_incident(stored.id, "resolved", IncidentUpdateRow(
                _new_id("upd"), stored.id, "resolved", source.closing, source.ended_at))

    async def _update(self, incident: Incident, status: str, body: str, at: float) -> None:
        await self._store.update_incident(incident.row.id, status, IncidentUpdateRow(
            _new_id("upd"), incident.row.id, status, body, at))

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            try:
                await self._maintenance.refresh()
                await self.sync()
            except StoreError as e:
                log.warning("incidents not synchronised with the store (retrying): %s", e)
            except Exception:
                log.exception("incident synchronisation failed; retrying at the next interval")
