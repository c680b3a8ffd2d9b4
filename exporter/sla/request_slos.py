"""The request and latency SLOs' month to date, in-process, from durable counts (``monitoring/slos.py``).

Every flush (``SLA_FLUSH_INTERVAL``) reads the request telemetry *as exported* (the samples of
``http_requests_total`` and the duration histogram, the very series the ``error_rate`` signal and
the generated rules read), turns the increase since the last read into each SLO's valid and bad
events (per tenant where asked), and adds them to the day's row of this replica in one upsert. A
restart loses nothing that was flushed (a clean stop flushes; a crash, at most one interval), and
counters that start again from zero are new increases, never negative ones. Replicas count
disjoint requests: a day's figure is the sum of every replica's row.

The figures (Occurrences): attainment = good / valid; budget = (1 - objective) x valid events;
used = bad events; remaining = budget - used (negative once overspent), and as a share,
1 - burn rate; burn rate = (bad / valid) / (1 - objective), the pace of spending (1 spends the
budget exactly by the month's end). A month without traffic has no attainment (``None``), a full
budget (share 1) and a burn rate of 0: never NaN. Float operations follow the generated rules',
so the same counts give the same numbers on both sides (``tests/test_request_slos.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from prometheus_client import CollectorRegistry

from exporter.core.clock import Clock, Month
from exporter.core.errors import StoreError
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.monitoring.slos import SERVICE, RequestSlo
from exporter.sla.accounting import day_key
from exporter.store import SloDayRow, Store

log = logging.getLogger(__name__)
REQUESTS, BUCKETS, COUNT = ("http_requests_total", "http_request_duration_seconds_bucket",
                            "http_request_duration_seconds_count")
Counts = tuple[int, int]  # (valid, bad)


@dataclass(frozen=True, slots=True)
class SloFigures:
    slo: RequestSlo
    tenant: str | None  # None: every request of the SLO
    valid: int
    bad: int

    @property
    def attainment(self) -> float | None:
        return None if self.valid == 0 else (self.valid - self.bad) / self.valid

    @property
    def error_ratio(self) -> float | None:
        return None if self.valid == 0 else self.bad / self.valid

    @property
    def burn_rate(self) -> float:
        ratio = self.error_ratio
        return 0.0 if ratio is None else ratio / float(self.slo.objective.budget_literal)

    @property
    def budget_events(self) -> float:
        return float(self.slo.objective.budget * self.valid)

    @property
    def remaining_ratio(self) -> float:
        """Share of the budget left: 1 - burn rate (Sloth's ``period_error_budget_remaining``); 1 without traffic."""
        return 1.0 - self.burn_rate

    @property
    def compliant(self) -> bool | None:
        if self.valid == 0:
            return None
        return Fraction(self.valid - self.bad, self.valid) >= Fraction(self.slo.objective.ratio)


class RequestSloTracker:
    def __init__(self, registry: CollectorRegistry, store: Store, clock: Clock,
                 monitoring: Callable[[], MonitoringConfig], observer: str, *, flush_interval: float,
                 maintenance: MaintenanceSchedule | None = None) -> None:
        self._restricted = registry.restricted_registry([REQUESTS, BUCKETS, COUNT])
        self._store = store
        self._clock = clock
        self._monitoring = monitoring
        self.observer = observer
        self.flush_interval = flush_interval
        self._maintenance = maintenance
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._pending: dict[tuple[str, str, str], Counts] = {}
        self._stored: dict[tuple[str, str, str], Counts] = {}  # (slo, tenant, day) -> every replica's sum

    # --- in: the exported request counters --------------------------------------------------------
    def _increases(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """(sample name, labels, increase since the last read) of every series (a process starts at 0)."""
        for family in self._restricted.collect():
            for sample in family.samples:
                if sample.name not in (REQUESTS, BUCKETS, COUNT):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                before = self._last.get(key, 0.0)
                self._last[key] = sample.value
                delta = sample.value - before if sample.value >= before else sample.value
                if delta:
                    yield sample.name, sample.labels, delta

    def take(self) -> None:
        """Add the events counted since the last take to today's pending counts (memory only)."""
        slos = self._monitoring().slos
        if not slos:
            return
        now = self._clock.now()
        day = day_key(now)
        paused = self._maintenance is not None and self._maintenance.active(SERVICE, now) is not None
        for name, labels, delta in self._increases():
            for slo in slos:
                if paused and slo.maintenance == "exclude":
                    continue  # counted while the API is in a maintenance window the SLO leaves out
                tenant = labels.get("tenant", "") if slo.per_tenant else ""
                valid = bad = 0.0
                if slo.sli == "requests" and name == REQUESTS:
                    valid, bad = delta, delta if labels.get("status", "").startswith("5") else 0.0
                elif slo.sli == "latency" and name == COUNT:
                    valid, bad = delta, delta
                elif slo.sli == "latency" and name == BUCKETS and labels.get("le") == slo.le:
                    bad = -delta  # answered within the threshold: good, so not bad
                if valid or bad:
                    key = (slo.id, tenant, day)
                    v, b = self._pending.get(key, (0, 0))
                    self._pending[key] = (v + round(valid), b + round(bad))

    # --- store ------------------------------------------------------------------------------------
    async def load(self) -> None:
        await self._read()

    async def flush(self) -> None:
        """Write the pending counts as one upsert, then read the month back (a failure keeps them)."""
        self.take()
        pending, self._pending = self._pending, {}
        try:
            await self._store.add_slo_days([SloDayRow(slo, tenant, day, self.observer, v, b)
                                            for (slo, tenant, day), (v, b) in pending.items()])
        except StoreError as e:
            log.warning("SLO counts not written (kept in memory, retrying): %s", e)
            for key, (v, b) in pending.items():
                pv, pb = self._pending.get(key, (0, 0))
                self._pending[key] = (pv + v, pb + b)
            return
        try:
            await self._read()
        except StoreError as e:  # what was written is in the store; the figures catch up at the next read
            for key, (v, b) in pending.items():
                sv, sb = self._stored.get(key, (0, 0))
                self._stored[key] = (sv + v, sb + b)
            log.warning("SLO counts not read back (retrying): %s", e)

    async def _read(self) -> None:
        first = Month.of(self._clock.now()).key + "-01"
        stored: dict[tuple[str, str, str], Counts] = {}
        for row in await self._store.slo_days(first):
            key = (row.slo, row.tenant, row.day)
            v, b = stored.get(key, (0, 0))
            stored[key] = (v + row.valid, b + row.bad)
        self._stored = stored

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("SLO flush failed; retrying at the next interval")

    # --- out: figures -----------------------------------------------------------------------------
    def figures(self) -> list[tuple[SloFigures, list[SloFigures]]]:
        """Each SLO's month to date, with its tenants' (per-tenant SLOs), from the store and what is pending."""
        prefix = Month.of(self._clock.now()).key + "-"
        totals: dict[tuple[str, str], Counts] = {}
        for source in (self._stored, self._pending):
            for (slo_id, tenant, day), (v, b) in source.items():
                if day.startswith(prefix):
                    tv, tb = totals.get((slo_id, tenant), (0, 0))
                    totals[(slo_id, tenant)] = (tv + v, tb + b)
        out = []
        for slo in self._monitoring().slos:
            tenants = sorted((tenant, counts) for (sid, tenant), counts in totals.items() if sid == slo.id)
            valid, bad = sum(c[0] for _, c in tenants), sum(c[1] for _, c in tenants)
            per_tenant = [SloFigures(slo, t, v, b) for t, (v, b) in tenants] if slo.per_tenant else []
            out.append((SloFigures(slo, None, valid, bad), per_tenant))
        return out
