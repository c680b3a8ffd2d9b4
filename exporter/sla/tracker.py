"""The SLA state of this process: probe results in, month-to-date figures and history out.

``record`` (the probe runner's sink) only touches memory: it adds the result's per-day sums to a
pending batch and follows runs of failures (breaches). ``flush`` (a background task, every
``SLA_FLUSH_INTERVAL`` seconds, and at shutdown) writes the batch and the changed breaches in one
transaction each, then reads back the recent rows, other replicas' included. ``snapshot`` computes
every figure from memory (no I/O), cached per second of the injected clock and per change, so
the public status page and the collectors cost no query. ``load`` (at start) reads the last 92
days and the recent breaches, so uptime survives restarts and covers the whole month.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import astuple, dataclass
from fractions import Fraction
from types import MappingProxyType

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.core.clock import Clock, Month
from exporter.core.errors import StoreError
from exporter.monitoring.config import MonitoringConfig
from exporter.sla.accounting import DaySums, ServiceSla, daily_uptime, last_days, month_sla, overall, slice_days
from exporter.sla.breaches import Breach, BreachDetector, close_stale, merge
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
    history: Mapping[str, tuple[tuple[str, Fraction | None], ...]]  # service -> 90 x (day, uptime), oldest first
    first_day: Mapping[str, str | None]  # service -> earliest day with data
    breaches: tuple[Breach, ...]  # merged: ongoing, and ended this month or in the last 24 h
    latest: Mapping[str, ProbeResult]
    overall_uptime: Fraction | None

    def service(self, name: str) -> ServiceSla | None:
        return next((s for s in self.services if s.service == name), None)


class SlaTracker:
    def __init__(self, store: Store, clock: Clock, monitoring: Callable[[], MonitoringConfig], observer: str,
                 *, flush_interval: float, registry: CollectorRegistry) -> None:
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
        self.detected: dict[str, int] = {}  # breaches this process detected, per service (a counter)
        self._version = 0
        self._cache: tuple[tuple[int, int, int], SlaSnapshot] | None = None
        self.published: SlaSnapshot | None = None

    # --- in: results ------------------------------------------------------------------------------
    def record(self, result: ProbeResult) -> None:
        """Add one probe result (memory only: no I/O, no await)."""
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
        self._latest = {**self._latest, result.service: result}
        self._version += 1

    # --- store ------------------------------------------------------------------------------------
    async def load(self) -> None:
        """Read the history at start; this observer's breaches left open by a previous run end."""
        now = self._clock.now()
        await self._store.close_open_breaches(self.observer)
        await self._read(last_days(now, HISTORY_DAYS + 2)[0], now)

    async def flush(self) -> None:
        """Write the pending sums and changed breaches, then read back the recent rows (a failure keeps them)."""
        now = self._clock.now()
        self._writing, self._pending = self._pending, {}
        dirty, self._dirty = self._dirty, {}
        try:
            await self._store.add_probe_days([ProbeDayRow(s, d, self.observer, *astuple(v))
                                              for (s, d), v in self._writing.items()])
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
            services.append(month_sla(service.name, service.target, month, days,
                                      [b for b in breaches if b.service == service.name], now))
            history[service.name] = tuple(daily_uptime(days, wanted))
            first[service.name] = min((d for d, rows in days.items() if any(r.observed_ms for r in rows)),
                                      default=None)
        snapshot = SlaSnapshot(now, month, tuple(services), MappingProxyType(history), MappingProxyType(first),
                               recent, MappingProxyType(dict(self._latest)), overall(services))
        self._cache = (key, snapshot)
        self.published = snapshot
        return snapshot


class SlaCollector(Collector):
    """The month-to-date gauges from the latest published snapshot (never computed in ``collect()``)."""

    def __init__(self, tracker: SlaTracker) -> None:
        self._tracker = tracker

    def collect(self) -> Iterator[Metric]:
        snapshot = self._tracker.published
        services = snapshot.services if snapshot is not None else ()
        target = GaugeMetricFamily("tenant_exporter_sla_target_ratio", "The service's SLA target.",
                                   labels=["service"])
        uptime = GaugeMetricFamily("tenant_exporter_sla_uptime_month_to_date_ratio",
                                   "Uptime of the service this calendar month (UTC) so far; absent without data.",
                                   labels=["service"])
        ratio = GaugeMetricFamily("tenant_exporter_sla_error_budget_remaining_ratio",
                                  "Share of this month's error budget left (negative once overspent).",
                                  labels=["service"])
        seconds = GaugeMetricFamily("tenant_exporter_sla_error_budget_remaining_seconds",
                                    "Downtime left this month before the SLA is breached (negative once overspent).",
                                    labels=["service"])
        breaches = GaugeMetricFamily("tenant_exporter_sla_breaches_month_to_date",
                                     "Outage incidents (breaches) of the service this calendar month so far.",
                                     labels=["service"])
        for s in services:
            target.add_metric([s.service], float(s.target.ratio))
            if s.uptime is not None:
                uptime.add_metric([s.service], float(s.uptime))
            ratio.add_metric([s.service], s.budget_remaining_ratio)
            seconds.add_metric([s.service], s.budget_remaining_seconds)
            breaches.add_metric([s.service], s.breaches)
        detected = CounterMetricFamily("tenant_exporter_sla_breaches", "Breaches this process detected.",
                                       labels=["service"])
        for name in sorted({s.service for s in services} | set(self._tracker.detected)):
            detected.add_metric([name], self._tracker.detected.get(name, 0))
        yield from (target, uptime, ratio, seconds, breaches, detected)
