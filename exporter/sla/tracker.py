"""The SLA state of this process: probe results in, month-to-date figures and history out.

``record`` (the probe runner's sink) only touches memory: it adds the result's per-day sums to a
pending batch and follows runs of failures (breaches). ``flush`` (a background task, every
``SLA_FLUSH_INTERVAL`` seconds, and at shutdown) writes the batch and the changed breaches in one
transaction each, then reads back the recent rows, other replicas' included. ``snapshot`` computes
every figure from memory (no I/O), cached per second of the injected clock and per change, so
the public status page and the collectors cost no query. ``load`` (at start) reads the last 92
days, the recent breaches and every replica's sessions, so uptime survives restarts and covers
the whole month. Each flush is also a heartbeat (``observation.py``): the time no replica
observed a service is known, and a gap long enough in a service whose unobserved time is
downtime (``api``, by default) is a breach, from the last heartbeat to the first new result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass
from fractions import Fraction
from types import MappingProxyType

from prometheus_client import CollectorRegistry

from exporter.core.clock import Clock, Month
from exporter.core.errors import StoreError
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.monitoring.services import ServiceConfig
from exporter.sla.accounting import (
    Coverage,
    DaySums,
    Pooled,
    ServiceSla,
    daily_uptime,
    last_days,
    month_sla,
    overall,
    slice_days,
)
from exporter.sla.breaches import Breach, BreachDetector, breach_id, close_stale, merge
from exporter.sla.coverage import by_day, day_bounds, elapsed, gaps, merged
from exporter.sla.gauges import SlaCollector
from exporter.sla.observation import Observation, to_ms
from exporter.sla.probes import ProbeResult
from exporter.store import BreachRow, ProbeDayRow, Store

log = logging.getLogger(__name__)
HISTORY_DAYS = 90
Key = tuple[str, str]  # (service, day)


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: a new snapshot is a change
class SlaSnapshot:
    at: float
    month: Month
    services: tuple[ServiceSla, ...]  # in config order
    history: Mapping[str, tuple[tuple[str, Pooled], ...]]  # service -> 90 x (day, pooled figures), oldest first
    first_day: Mapping[str, str | None]  # service -> earliest day with data
    breaches: tuple[Breach, ...]  # merged: ongoing, and ended this month or in the last 24 h
    latest: Mapping[str, ProbeResult]
    overall_uptime: Fraction | None

    def service(self, name: str) -> ServiceSla | None:
        return next((s for s in self.services if s.service == name), None)


class SlaTracker:
    def __init__(self, store: Store, clock: Clock, monitoring: Callable[[], MonitoringConfig], observer: str,
                 *, flush_interval: float, registry: CollectorRegistry,
                 maintenance: MaintenanceSchedule | None = None) -> None:
        registry.register(SlaCollector(self))
        self._store = store
        self._clock = clock
        self._monitoring = monitoring
        self.observer = observer
        self.flush_interval = flush_interval
        self._stored: dict[Key, dict[str, DaySums]] = {}
        self._pending: dict[Key, DaySums] = {}
        self._writing: dict[Key, DaySums] = {}
        self._detectors: dict[str, BreachDetector] = {}
        self._breaches: dict[str, Breach] = {}
        self._dirty: dict[str, Breach] = {}
        self._latest: dict[str, ProbeResult] = {}
        self.observation = Observation(observer)
        self._maintenance = maintenance
        self.detected: dict[str, int] = {}  # breaches this process detected, per service (a counter)
        self._version = 0
        self._cache: tuple[tuple[int, int, int], SlaSnapshot] | None = None
        self.published: SlaSnapshot | None = None

    # --- in: results ------------------------------------------------------------------------------
    def record(self, result: ProbeResult) -> None:
        """Add one probe result (memory only: no I/O, no await)."""
        gap = self.observation.begin(result.service, result.at - result.weight_seconds, result.at)
        if gap is not None:
            self._unobserved_gap(result.service, gap)
        self._latest = {**self._latest, result.service: result}
        self._version += 1
        if self._excluded(result.service, result.at):
            return  # in a maintenance window the service's policy leaves out: neither up nor down, no breach
        for day, sums in slice_days(result.at, result.weight_seconds, success=result.success,
                                    degraded=result.degraded):
            key = (result.service, day)
            self._pending[key] = self._pending.get(key, DaySums()) + sums
        detector = self._detectors.setdefault(result.service, BreachDetector(result.service, self.observer))
        breach = detector.observe(success=result.success, at=result.at, weight_seconds=result.weight_seconds,
                                  detail=result.detail, settings=self._monitoring().sla)
        if breach is not None:
            if breach.id not in self._breaches:
                self.detected[result.service] = self.detected.get(result.service, 0) + 1
            self._breaches[breach.id] = self._dirty[breach.id] = breach

    def _excluded(self, service: str, at: float) -> bool:
        found = self._monitoring().service(service)
        return (self._maintenance is not None and found is not None and found.maintenance == "exclude"
                and self._maintenance.active(service, at) is not None)

    def _left_out(self, service: ServiceConfig) -> list[tuple[int, int]]:
        """Maintenance time the service's policy leaves out of its SLA (ms intervals)."""
        if self._maintenance is None or service.maintenance != "exclude":
            return []
        return self._maintenance.intervals(service.name)

    def _unobserved_gap(self, service: str, gap: tuple[int, int]) -> None:
        """Nobody observed ``service`` during ``gap`` (ms): a breach when that is downtime and long enough."""
        config = self._monitoring()
        found = config.service(service)
        if found is None or found.unobserved != "down":
            return
        missed = sum(b - a for a, b in gaps(merged(self._left_out(found)), *gap))  # maintenance is no breach
        if missed < config.sla.breach_min_duration_ms:
            return
        start, end = gap[0] / 1000, gap[1] / 1000
        breach = Breach(breach_id(service, "unobserved", start), service, self.observer, start, end, 0, end,
                        f"not observed for {end - start:.0f} s: no replica was running")
        log.warning("%s was not observed from %s for %.1f s: counted as a breach", service, start, end - start)
        self._breaches[breach.id] = self._dirty[breach.id] = breach

    # --- store ------------------------------------------------------------------------------------
    async def load(self) -> None:
        """Read the history at start; this observer's breaches left open by a previous run end."""
        now = self._clock.now()
        await self._store.close_open_breaches(self.observer)
        since = day_bounds(last_days(now, HISTORY_DAYS + 2)[0])[0] / 1000
        self.observation.load(await self._store.sessions_since(since), await self._store.first_sessions(), since)
        await self._read(last_days(now, HISTORY_DAYS + 2)[0], now)

    async def flush(self) -> None:
        """Write the pending sums and changed breaches, then read back the recent rows (a failure keeps them)."""
        now = self._clock.now()
        self._writing, self._pending = self._pending, {}
        dirty, self._dirty = self._dirty, {}
        try:
            await self._store.add_probe_days([ProbeDayRow(s, d, self.observer, *astuple(v))
                                              for (s, d), v in self._writing.items()])
            await self._store.save_sessions(self.observation.heartbeat(now, self._heartbeats()))
        except StoreError as e:
            log.warning("SLA sums not written (kept in memory, retrying): %s", e)
            for key, sums in self._writing.items():
                self._pending[key] = sums + self._pending.get(key, DaySums())
            self._writing = {}
            self._dirty = {**dirty, **self._dirty}
            return
        written, self._writing = self._writing, {}
        self._apply_own(written)
        try:
            await self._store.save_breaches([BreachRow(*astuple(b)) for b in dirty.values()])
            await self._read(last_days(now, 2)[0], now)
        except StoreError as e:
            log.warning("SLA breaches not synchronised with the store (retrying): %s", e)
            self._dirty = {**dirty, **self._dirty}
        self._version += 1

    def _heartbeats(self) -> dict[str, tuple[float, float]]:
        """Each service's latest result time and interval (a service whose probes stopped gets no heartbeat)."""
        config = self._monitoring()
        out = {}
        for name, result in self._latest.items():
            service = config.service(name)
            out[name] = (result.at, service.interval_ms / 1000 + service.timeout_ms / 1000 if service else 0.0)
        return out

    def _apply_own(self, written: Mapping[Key, DaySums]) -> None:
        for key, sums in written.items():
            observers = self._stored.setdefault(key, {})
            observers[self.observer] = observers.get(self.observer, DaySums()) + sums

    async def _read(self, since_day: str, now: float) -> None:
        rows = await self._store.probe_days(since_day)
        fresh: dict[Key, dict[str, DaySums]] = {}
        for r in rows:
            fresh.setdefault((r.service, r.day), {})[r.observer] = DaySums(r.results, r.failures, r.observed_ms,
                                                                            r.down_ms, r.degraded_ms)
        oldest = last_days(now, HISTORY_DAYS + 2)[0]
        kept = {k: v for k, v in self._stored.items() if oldest <= k[1] < since_day}
        self._stored = {**kept, **fresh}
        month = Month.of(now)
        recent = day_bounds(since_day)[0] / 1000
        self.observation.merge(await self._store.sessions_since(recent), recent)
        stored = await self._store.breaches_since(min(month.start, now - 86_400))
        live = {b.id: b for b in self._breaches.values() if b.ongoing and b.observer == self.observer}
        self._breaches = {**{r.id: Breach(*astuple(r)) for r in stored}, **live, **self._dirty}
        self._version += 1

    async def run_forever(self) -> None:
        """Flush and publish a snapshot every flush interval; a failure is logged and retried."""
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
                self.snapshot()
            except Exception:
                log.exception("SLA flush failed; retrying at the next interval")

    # --- out: figures -----------------------------------------------------------------------------
    def _days(self, service: str) -> dict[str, list[DaySums]]:
        out: dict[str, dict[str, DaySums]] = {}
        for (s, day), observers in self._stored.items():
            if s == service:
                out[day] = dict(observers)
        for source in (self._writing, self._pending):
            for (s, day), sums in source.items():
                if s == service:
                    observers = out.setdefault(day, {})
                    observers[self.observer] = observers.get(self.observer, DaySums()) + sums
        return {day: list(observers.values()) for day, observers in out.items()}

    def snapshot(self) -> SlaSnapshot:
        """Every figure at the clock's now, from memory; cached per second and per change."""
        now = self._clock.now()
        config = self._monitoring()
        key = (self._version, id(config), int(now))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        month = Month.of(now)
        stale = max(3 * (s.interval_ms / 1000) for s in config.services) + self.flush_interval if config.services \
            else self.flush_interval
        breaches = merge(close_stale(self._breaches.values(), now, stale))
        recent = tuple(b for b in breaches if b.overlaps(min(month.start, now - 86_400), now + 1, now))
        services, history, first = [], {}, {}
        wanted = last_days(now, HISTORY_DAYS)
        for service in config.services:
            days = self._days(service.name)
            coverage = self._coverage(service, wanted, month, now)
            services.append(month_sla(service.name, service.target, month, days,
                                      [b for b in breaches if b.service == service.name], now, coverage))
            history[service.name] = tuple(daily_uptime(days, wanted, coverage))
            first[service.name] = min((d for d, rows in days.items() if any(r.observed_ms for r in rows)),
                                      default=None)
        snapshot = SlaSnapshot(now, month, tuple(services), MappingProxyType(history), MappingProxyType(first),
                               recent, MappingProxyType(dict(self._latest)), overall(services))
        self._cache = (key, snapshot)
        self.published = snapshot
        return snapshot


    def _coverage(self, service: ServiceConfig, wanted: list[str], month: Month, now: float) -> Coverage:
        """Unobserved time per day (and the month's time since monitoring began) from every replica's sessions."""
        union = merged([*self.observation.covered(service.name, now), *self._left_out(service)])
        began = self.observation.began.get(service.name)
        began_ms, now_ms = (None if began is None else to_ms(began)), to_ms(now)
        if began_ms is None:
            return Coverage({}, 0, service.unobserved)
        first = max(began_ms, day_bounds(wanted[0])[0])
        missed = by_day(gaps(union, first, now_ms)) if now_ms > first else {}  # a few gaps, not 90 days
        return Coverage(missed, elapsed(began_ms, to_ms(month.start), now_ms), service.unobserved)
