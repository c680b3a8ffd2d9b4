"""Per-tenant usage: API calls counted in memory and flushed to the store in batches.

Each request adds one to its tenant's pending count (no store write on the request path).
``flush()`` adds the pending deltas to the month's counters in one transaction and reads back
the totals, which include what other replicas flushed, so quotas hold across replicas within
one flush interval. A failed flush keeps its deltas for the next try: nothing is lost while
the database is away. Reported usage (storage, team members, cases) is written through.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from exporter.core.clock import Clock, Month, MonthCursor
from exporter.core.errors import StoreError
from exporter.core.pacing import Pacer
from exporter.store import Store
from exporter.tenancy.catalog import API_CALLS, Limit, Tenant

log = logging.getLogger(__name__)

WARNING_RATIO = 0.8
PAGE = 2000  # tenants read per query
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class UsageFigure:
    """One limit and its use, in OpenMeter's entitlement terms."""

    limit: Limit
    used: float

    @property
    def balance(self) -> float:
        return _number(max(0, self.limit.value - self.used))

    @property
    def overage(self) -> float:
        return _number(max(0, self.used - self.limit.value))

    @property
    def ratio(self) -> float:
        if self.limit.value == 0:
            return 0.0 if self.used == 0 else 1.0
        return self.used / self.limit.value

    @property
    def has_access(self) -> bool:
        return self.limit.soft or self.used < self.limit.value

    @property
    def status(self) -> str:
        ratio = self.ratio
        return "exceeded" if ratio >= 1.0 else "warning" if ratio >= WARNING_RATIO else "ok"

    @property
    def thresholds_crossed(self) -> list[float]:
        return [t for t in (WARNING_RATIO, 1.0) if self.ratio >= t]


def _number(value: float) -> float:
    """Whole numbers as ints, so JSON shows ``75`` rather than ``75.0``."""
    return int(value) if value == int(value) else value


class UsageTracker:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._cursor = MonthCursor(clock.now())
        self._month = self._cursor.month.key
        self._totals: dict[str, int] = {}
        self._pending: Counter[tuple[str, str]] = Counter()
        self._flushing: Counter[tuple[str, str]] = Counter()
        self._reported: dict[str, dict[str, float]] = {}
        self._flush_lock = asyncio.Lock()
        self._changed: set[str] = set()  # tenants whose figures changed since ``take_changed()``

    async def load(self) -> None:
        """Read this month's totals and the reported usage from the store."""
        self._month = self.month().key
        await self._read(self._month)
        self._changed.clear()  # what was read at start is not a change (the series are all rendered after)

    async def _read(self, month: str) -> None:
        """Bring the month's counts and the reported usage up to date from the store (other replicas' flushes
        and reports included), a page of tenants at a time, changing the dicts in place: building 100,000
        entries anew (and freeing the old ones) at every flush held the loop for ~40 ms."""
        pacer = Pacer()
        totals = self._totals if month == self._month else {}  # a month that just ended: nothing to keep
        await self._merge(lambda after: self._store.api_calls(month, after=after, limit=PAGE), totals, pacer)
        await self._merge(lambda after: self._store.reported_usage(after=after, limit=PAGE), self._reported, pacer)

    async def _merge(self, fetch: Callable[[str], Awaitable[dict[str, V]]], into: dict[str, V],
                     pacer: Pacer) -> None:
        after = ""
        while True:
            page = await fetch(after)
            for tenant_id, value in page.items():
                if into.get(tenant_id) != value:
                    into[tenant_id] = value
                    self._changed.add(tenant_id)
            if len(page) < PAGE:
                return
            after = next(reversed(page))
            if pacer.due():
                await pacer.pause()

    def month(self, now: float | None = None) -> Month:
        """The current calendar month (UTC); when a new one starts, the monthly counts start at 0."""
        month = self._cursor.at(self._clock.now() if now is None else now)
        if month.key != self._month:
            self._month = month.key
            self._changed.update(self._totals)
            self._totals = {}
        return month

    def take_changed(self) -> set[str]:
        """The tenants whose figures changed since the last call (counted, flushed, reported)."""
        changed, self._changed = self._changed, set()
        return changed

    def _roll(self) -> str:
        return self.month().key

    def count(self, tenant_id: str, month: str | None = None) -> None:
        self._pending[(month or self._roll(), tenant_id)] += 1

    def count_call(self, tenant_id: str, month: str) -> int:
        """``count`` and ``api_calls`` in one: count a call in ``month`` (its key); the calls counted before it."""
        key = (month, tenant_id)
        pending = self._pending
        before = pending.get(key, 0)
        pending[key] = before + 1
        return self._totals.get(tenant_id, 0) + before + self._flushing.get(key, 0)

    def uncount_call(self, tenant_id: str, month: str) -> None:
        """Take back the call ``count_call`` just counted (the request was refused); call it before any await."""
        key = (month, tenant_id)
        left = self._pending[key] - 1
        if left > 0:
            self._pending[key] = left
        else:
            del self._pending[key]

    def api_calls(self, tenant_id: str, month: str | None = None) -> int:
        key = (month or self._roll(), tenant_id)
        return self._totals.get(tenant_id, 0) + self._pending.get(key, 0) + self._flushing.get(key, 0)

    def reported(self, tenant_id: str) -> Mapping[str, float]:
        return self._reported.get(tenant_id, {})

    def figures(self, tenant: Tenant) -> dict[str, UsageFigure]:
        reported = self.reported(tenant.id)
        out: dict[str, UsageFigure] = {}
        for name, limit in tenant.limits.items():
            if name == API_CALLS.name:
                used: float = self.api_calls(tenant.id)
            else:
                used = _number(reported.get(limit.kind.usage_field, 0))
            out[name] = UsageFigure(limit, used)
        return out

    def period(self) -> tuple[float, float]:
        month = self.month()
        return month.start, month.end

    async def report(self, tenant_id: str, values: Mapping[str, float]) -> None:
        """Store reported usage (write-through: the caller's answer waits for the commit)."""
        await self._store.set_reported_usage(tenant_id, values, self._clock.now())
        self._reported.setdefault(tenant_id, {}).update(values)
        self._changed.add(tenant_id)

    async def flush(self) -> None:
        """Add pending counts to the store, then refresh totals (which include other replicas').

        If the add fails, the counts go back to pending for the next try: nothing is lost.
        """
        async with self._flush_lock:
            self._flushing, self._pending = self._pending, Counter()
            self._changed.update(tenant_id for _, tenant_id in self._flushing)
            if self._flushing:
                try:
                    await self._store.add_api_calls(dict(self._flushing))
                except StoreError:
                    self._pending.update(self._flushing)
                    self._flushing = Counter()
                    raise
                month = self._roll()
                for (counted_in, tenant_id), delta in self._flushing.items():
                    if counted_in == month:
                        self._totals[tenant_id] = self._totals.get(tenant_id, 0) + delta
                self._flushing = Counter()
            await self._read(self._roll())
