"""The background sync of the shared rate limits (``shared_limits.py``) with Redis (``redis_gcra.py``).

One sync at a time: every ``RATE_LIMIT_SYNC_INTERVAL``, or sooner (but at most every fifth of it)
when a request asks, it settles every tenant this replica is serving in one script call. With
nothing to settle it still asks Redis once a second, so an idle replica notices an outage too.

A sync that fails or takes longer than ``REDIS_TIMEOUT`` turns the shared limits off: each
replica then limits on its own (fail open), ``tenant_exporter_rate_limit_shared`` is 0 and the
requests decided so are counted. It tries again after one interval, doubling up to a second,
and the first sync that succeeds shares again, by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import suppress
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from exporter.core.clock import Clock
from exporter.tenancy.redis_gcra import RedisGcra
from exporter.tenancy.shared_limits import Share, SharedLimits

log = logging.getLogger(__name__)

FAIL_OPEN: Final = "tenant_exporter_rate_limit_fail_open_requests"
HEARTBEAT: Final = 1.0  # seconds between syncs when no tenant needs one
MAX_BACKOFF: Final = 1.0


class LimitSync(Collector):
    def __init__(self, limits: SharedLimits, redis: RedisGcra, clock: Clock, registry: CollectorRegistry, *,
                 timeout: float) -> None:
        self.limits = limits
        self._redis = redis
        self._timeout = timeout
        self._monotonic = clock.monotonic
        self._last_ok = -HEARTBEAT
        self._shared = Gauge("tenant_exporter_rate_limit_shared",
                             "1 while the per-second rate limits are shared through Redis; 0 while this replica "
                             "limits on its own because Redis is unreachable (fail open).", registry=registry)
        self._syncs = Counter("tenant_exporter_rate_limit_syncs", "Syncs of the shared rate limits with Redis, "
                              "by outcome (ok, failed).", ["outcome"], registry=registry)
        for outcome in ("ok", "failed"):
            self._syncs.labels(outcome)
        self._duration = Histogram("tenant_exporter_rate_limit_sync_duration_seconds",
                                   "Time one sync of the shared rate limits took (a round trip to Redis).",
                                   buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1),
                                   registry=registry)
        registry.register(self)

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(FAIL_OPEN, "")]

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(FAIL_OPEN, "Requests this replica admitted or refused by its own token bucket "
                                  "because Redis was unreachable (fail open).", value=self.limits.fail_open)

    async def sync_once(self) -> bool:
        """Settle every tenant due; False when Redis could not be reached (the limits are then per replica)."""
        limits = self.limits
        shares = limits.due()
        if not shares and limits.active and self._monotonic() < self._last_ok + HEARTBEAT:
            return True
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                fleet, levels = await self._redis.settle(limits.charges(shares))
        except (RedisError, OSError, TimeoutError) as e:
            self._failed(shares, e if not isinstance(e, TimeoutError) else f"no answer within {self._timeout:g} s")
            return False
        except Exception:  # a bug here must not leave the limits shared on stale credits
            log.exception("rate limit sync failed")
            self._failed(shares, "an unexpected error")
            return False
        self._duration.observe(time.perf_counter() - started)
        self._syncs.labels("ok").inc()
        if not limits.active:
            log.info("rate limits shared through Redis again")
        limits.settled(shares, fleet, levels, self._monotonic())
        self._shared.set(1)
        self._last_ok = self._monotonic()
        return True

    def _failed(self, shares: list[Share], why: object) -> None:
        if self.limits.active:
            log.warning("Redis unreachable (%s): each replica limits tenants on its own until it answers", why)
        self.limits.failed(shares)
        self._syncs.labels("failed").inc()
        self._shared.set(0)

    async def run_forever(self, interval: float) -> None:
        gap, backoff = interval / 5, interval
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if await self.sync_once():
                backoff = interval
                await asyncio.sleep(max(0.0, started + gap - loop.time()))
                # with no tenant to settle, wake only for a request (or the once-a-second heartbeat)
                wait = interval if self.limits.serving() else HEARTBEAT
                with suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, started + wait - loop.time())):
                        await self.limits.wake.wait()
            else:
                backoff = min(MAX_BACKOFF, backoff * 2)
                await asyncio.sleep(backoff)
            self.limits.wake.clear()

    async def close(self) -> None:
        await self._redis.close()
