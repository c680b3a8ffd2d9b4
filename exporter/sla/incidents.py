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

An incident is shown as soon as it is decided and written to the store at once; while the store
is out it is kept in memory and written when it returns (a database outage opens the database's
incident). Every sync reads the store back, so replicas show the same incidents and a restart
forgets none that was written. At most one open incident per source (the store's unique index):
replicas seeing the same alert or breach open it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

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


@dataclass(slots=True)
class _Unwritten:
    """An incident changed in memory and not (yet) all in the store: the database is out, or it just happened."""

    opened: IncidentRow  # the row as it was opened (what the store gets first)
    row: IncidentRow  # the row as it is now
    updates: list[IncidentUpdateRow]
    stored: bool = False  # the store has the row, and the first ``written`` updates
    written: int = 0


class Incidents:
    def __init__(self, store: Store, clock: Clock, sources: Callable[[], list[Source]],
                 maintenance: MaintenanceSchedule, *, interval: Callable[[], float], forget_after: float) -> None:
        self._store = store
        self._clock = clock
        self._sources = sources
        self._maintenance = maintenance
        self._interval = interval
        self._forget_after = forget_after  # seconds an open incident may go unreported before it ends
        self._stored: tuple[Incident, ...] = ()  # as last read from the store
        self._local: dict[str, _Unwritten] = {}  # by incident id: changes the store does not have yet
        self.current: tuple[Incident, ...] = ()  # open ones and the last 90 days', newest first
        self.version = 0

    async def load(self) -> None:
        await self._read()
        self._publish()

    async def _read(self) -> None:
        found = await self._store.incidents_since(self._clock.now() - HISTORY_SECONDS)
        self._stored = tuple(Incident(row, tuple(updates)) for row, updates in found)

    def _publish(self) -> None:
        """What the page shows: the store's incidents, with the changes it does not have yet."""
        merged = {i.row.id: i for i in self._stored}
        for local in self._local.values():
            merged[local.row.id] = Incident(local.row, tuple(local.updates))
        current = tuple(sorted(merged.values(), key=lambda i: (-i.row.started_at, i.row.id)))
        if current != self.current:
            self.current, self.version = current, self.version + 1

    async def sync(self) -> None:
        """Open, update and resolve incidents to match their sources now: in memory first (the page shows them
        at once, also while the database is out), then in the store (what fails is retried next time)."""
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
                self._update(incident, "resolved", source.closing, source.ended_at)
            elif incident is not None:
                seen.append(incident.row.id)
                if source.identified is not None and incident.row.status == "investigating":
                    self._update(incident, "identified", source.identified, now)
            elif source.ended_at is None:
                if any(self._maintenance.active(c, now) for c in source.components):
                    continue  # the service is down on purpose: no incident
                self._open(source, now)
            elif (last := latest.get(source.key)) is None or (last.row.resolved_at or now) < source.started_at:
                self._open(source, now)  # it started and ended between two looks
        active = {s.key for s in sources if s.ended_at is None}
        for incident in self.current:
            if incident.open and incident.row.source_key not in active and \
                    now - incident.row.seen_at > self._forget_after:
                self._update(incident, "resolved", "Resolved: nothing has reported this problem since then.",
                             incident.row.seen_at)
        self._publish()
        try:
            await self._write()
            await self._store.incidents_seen(seen, now)
            await self._read()
        except StoreError as e:
            log.warning("incidents not all written to the store (kept in memory, retrying): %s", e)
        self._publish()

    def _open(self, source: Source, now: float) -> None:
        incident_id = _new_id("inc")
        row = IncidentRow(incident_id, source.key, source.name, source.impact, json.dumps(list(source.components)),
                          "investigating", source.started_at, now, None, now)
        first = IncidentUpdateRow(_new_id("upd"), incident_id, "investigating", source.opening, source.started_at)
        self._local[incident_id] = _Unwritten(row, row, [first])
        log.warning("incident opened: %s", source.name)
        if source.ended_at is not None:  # it started and ended between two looks
            self._update(Incident(row, (first,)), "resolved", source.closing, source.ended_at)

    def _update(self, incident: Incident, status: str, body: str, at: float) -> None:
        local = self._local.get(incident.row.id)
        if local is None:  # a stored incident changes
            local = self._local[incident.row.id] = _Unwritten(incident.row, incident.row, list(incident.updates),
                                                               stored=True, written=len(incident.updates))
        local.updates.append(IncidentUpdateRow(_new_id("upd"), incident.row.id, status, body, at))
        local.row = replace(local.row, status=status, updated_at=max(local.row.updated_at, at),
                            resolved_at=at if status == "resolved" else None)

    async def _write(self) -> None:
        """Write what the store does not have yet, oldest change first (StoreError: the rest waits)."""
        for incident_id, local in list(self._local.items()):
            if not local.stored:
                stored, opened = await self._store.open_incident(local.opened, local.updates[0])
                local.stored, local.written = True, 1
                if not opened:  # another replica opened one for this source first: it is the one
                    del self._local[incident_id]
                    rest = [u for u in local.updates[1:] if u.status == "resolved"]
                    for update in rest:
                        await self._store.update_incident(stored.id, update.status, replace(update,
                                                                                            incident_id=stored.id))
                    continue
            for update in local.updates[local.written:]:
                await self._store.update_incident(incident_id, update.status, update)
                local.written += 1
            del self._local[incident_id]

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            try:
                await self._maintenance.refresh()
                await self.sync()
            except Exception:
                log.exception("incident synchronisation failed; retrying at the next interval")
