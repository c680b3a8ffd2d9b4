"""Custom metric series shared by every replica and kept across restarts, through the database.

A sample is recorded in memory as before (``custom.py``: validated, capped, answered at once);
every ``FLEET_POLL_INTERVAL`` this replica writes the series it updated (the latest sample of
each, however many arrived), then reads what any replica wrote since its last read and keeps
each series' newest sample by its timestamp. So every replica exports the same latest value of
every series within about two intervals, and a restarted replica starts with every series not
idle for longer than ``series_ttl``. What a SIGKILL loses: the samples of the last interval,
not yet written (a clean stop writes them).

Reads overlap by ``margin`` (the store timeout, for transactions still committing, plus
``CLOCK_SKEW`` for the replicas' clocks) and apply idempotently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from typing import Final

from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.monitoring.config import CustomMetricLimits
from exporter.store import Store
from exporter.store.records import CustomSeriesRow
from exporter.telemetry.custom import CustomMetrics, Labels

log = logging.getLogger(__name__)

CLOCK_SKEW: Final = 2.0  # seconds the replicas' clocks may be apart (NTP keeps them far closer)
EXPIRE_EVERY: Final = 60.0  # seconds between deletions of series idle for longer than series_ttl


def encode(labels: Labels) -> str:
    return json.dumps([list(pair) for pair in labels], separators=(",", ":"))


def decode(text: str) -> Labels:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


class CustomMetricsSync:
    def __init__(self, store: Store, metrics: CustomMetrics, clock: Clock,
                 limits: Callable[[], CustomMetricLimits], *, margin: float) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._limits = limits
        self._margin = margin + CLOCK_SKEW
        self._read_at: float | None = None  # when the last read started
        self._expired_at = -math.inf
        self._failing = False

    def _ttl(self) -> float:
        return self._limits().series_ttl_ms / 1000

    async def write(self) -> None:
        """Write the series updated here since the last write (kept for the next one when this fails)."""
        dirty = self._metrics.take_dirty()
        rows = [CustomSeriesRow(tenant_id, name, encode(labels), value, at, updated_at)
                for tenant_id, name, labels, value, at, updated_at in dirty]
        try:
            await self._store.save_custom_series(rows, self._clock.now())
        except StoreError:
            self._metrics.requeue([(t, n, labels) for t, n, labels, *_ in dirty])
            raise

    async def read(self) -> None:
        """Keep what any replica wrote since the last read, where it is newer (the first read: every series not
        idle for longer than its time to live, as a restarted replica starts with)."""
        started = self._clock.now()
        since = 0.0 if self._read_at is None else self._read_at - self._margin
        rows = await self._store.custom_series_written_since(since, started - self._ttl())
        for row in rows:
            self._metrics.merge(row.tenant_id, row.name, decode(row.labels), row.value, row.sample_at,
                                row.updated_at)
        self._read_at = started

    async def sync(self) -> None:
        await self.write()
        await self.read()
        now = self._clock.now()
        if now >= self._expired_at + EXPIRE_EVERY:
            await self._store.delete_custom_series(now - self._ttl())
            self._expired_at = now

    async def run_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except StoreError as e:
                if not self._failing:
                    log.warning("custom metrics not synced with the other replicas (kept, trying again): %s", e)
                self._failing = True
            else:
                self._failing = False
