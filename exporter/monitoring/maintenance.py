"""Scheduled maintenance windows: from monitoring.yml (``maintenance:``) and from the operators' API, one schedule.

A window names the services it takes down on purpose, from ``start`` to ``end``. While it is in
progress, for those services: the status page shows ``under_maintenance``, alerts about them are
held back from Alertmanager and open no incident, and the SLA leaves the time out (probe
results, unobserved time, and the requests of the request SLOs) when the SLO's ``maintenance``
policy is ``exclude`` (the default), or counts it when it is ``count``. The policy applies as the
time is recorded: a probe result by its time, the requests by the flush that counts them.

``MaintenanceSchedule`` holds the config's windows and the stored ones (read back every SLA
flush, so a window made on one replica reaches the others within one flush interval).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from exporter.core.clock import Clock
from exporter.core.errors import NotFound, StoreError
from exporter.core.yamlfile import PathT, YamlDoc
from exporter.store import MaintenanceRow, Store

if TYPE_CHECKING:  # alerts.py needs config.py, which needs this module
    from exporter.monitoring.alerts import Alert

log = logging.getLogger(__name__)
KEEP_COMPLETED = 90 * 86_400.0  # completed windows stay listed (and excluded from the SLA) this long


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: str
    name: str
    services: tuple[str, ...]
    starts_at: float
    ends_at: float
    description: str
    source: str  # config | api

    def covers(self, service: str, t: float) -> bool:
        return service in self.services and self.starts_at <= t < self.ends_at

    def status(self, now: float) -> str:
        """Statuspage's maintenance status: scheduled, in_progress or completed."""
        return "scheduled" if now < self.starts_at else "in_progress" if now < self.ends_at else "completed"


class _WindowSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    services: list[str]
    start: Annotated[datetime, msgspec.Meta(tz=True)]
    end: Annotated[datetime, msgspec.Meta(tz=True)]
    description: str = ""


def load_maintenance(doc: YamlDoc, raw: Any, services: Sequence[str]) -> tuple[MaintenanceWindow, ...]:
    """``maintenance:``, a list of windows over known services, each ending after it starts."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        doc.issue(("maintenance",), "expected a list of maintenance windows")
        return ()
    out = []
    for i, item in enumerate(raw):
        where: PathT = ("maintenance", i)
        spec = doc.convert(item, _WindowSpec, where)
        if spec is None:
            continue
        before = len(doc.issues)
        unknown = [s for s in spec.services if s not in services]
        if unknown or not spec.services:
            doc.issue((*where, "services"), f"name one or more of the probed services ({', '.join(services)}); "
                                            f"unknown: {', '.join(unknown) or 'none given'}")
        if spec.end <= spec.start:
            doc.issue((*where, "end"), "must be after start")
        if not spec.name.strip():
            doc.issue((*where, "name"), "must not be empty")
        if len(doc.issues) == before:
            start, end = spec.start.timestamp(), spec.end.timestamp()
            digest = hashlib.sha256(f"{spec.name}\0{start}\0{end}".encode()).hexdigest()[:12]
            out.append(MaintenanceWindow(f"config-{digest}", spec.name.strip(), tuple(spec.services), start, end,
                                         spec.description.strip(), "config"))
    return tuple(out)


def from_row(row: MaintenanceRow) -> MaintenanceWindow:
    return MaintenanceWindow(row.id, row.name, tuple(json.loads(row.services)), row.starts_at, row.ends_at,
                             row.description, "api")


class MaintenanceSchedule:
    """Every window in force: the config's (``configured()``, re-read on reload) and the stored ones."""

    def __init__(self, store: Store, clock: Clock, configured: Callable[[], Sequence[MaintenanceWindow]]) -> None:
        self._store = store
        self._clock = clock
        self._configured = configured
        self._stored: tuple[MaintenanceWindow, ...] = ()

    def windows(self) -> list[MaintenanceWindow]:
        """Every window, by start (completed ones for 90 days)."""
        horizon = self._clock.now() - KEEP_COMPLETED
        found = [w for w in (*self._configured(), *self._stored) if w.ends_at >= horizon]
        return sorted(found, key=lambda w: (w.starts_at, w.id))

    def active(self, service: str, t: float) -> MaintenanceWindow | None:
        return next((w for w in (*self._configured(), *self._stored) if w.covers(service, t)), None)

    def silencing(self, alert: Alert) -> MaintenanceWindow | None:
        """The window in progress over the service an alert is about (``service`` label, else the API)."""
        return self.active(alert.labels.get("service", "api"), self._clock.now())

    def intervals(self, service: str) -> list[tuple[int, int]]:
        """The service's windows as millisecond intervals (for the SLA's arithmetic)."""
        return [(round(w.starts_at * 1000), round(w.ends_at * 1000)) for w in self.windows() if service in w.services]

    async def refresh(self) -> None:
        """Read the stored windows again (a failure keeps the last ones)."""
        try:
            rows = await self._store.maintenance_windows(self._clock.now() - KEEP_COMPLETED)
        except StoreError as e:
            log.warning("maintenance windows not read (keeping the last ones): %s", e)
            return
        self._stored = tuple(from_row(r) for r in rows)

    async def create(self, name: str, services: Sequence[str], starts_at: float, ends_at: float, description: str,
                     created_by: str) -> MaintenanceWindow:
        row = MaintenanceRow(f"mnt_{secrets.token_hex(6)}", name, json.dumps(list(services)), starts_at, ends_at,
                             description, created_by, self._clock.now())
        await self._store.save_maintenance(row)
        window = from_row(row)
        self._stored = (*self._stored, window)
        return window

    async def cancel(self, window_id: str) -> MaintenanceWindow:
        """Cancel a window made through the API (404 for another id, or one from monitoring.yml)."""
        row = await self._store.cancel_maintenance(window_id, self._clock.now())
        if row is None:
            raise NotFound(f"no maintenance window {window_id!r} was made through the API", slug="unknown-maintenance")
        self._stored = tuple(w for w in self._stored if w.id != window_id)
        return from_row(row)
