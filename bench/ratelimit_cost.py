"""The rate limiter's own cost: one QuotaEnforcer.admit() (monthly quota check, token bucket,
usage count and the five RateLimit header values), timed in-process with no HTTP around it.

    .venv/bin/python bench/ratelimit_cost.py [--calls 200000]

Also times the parts it is made of, so the figure can be read against them; throughput.py shows
the whole request path, this shows the limiter alone. With Redis on 127.0.0.1:6379 it also times
the shared limits (REDIS_URL): admit() deciding on the fleet's credit, and one sync (the Lua script
for one tenant, a round trip), which runs 20 times a second whatever the request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import bench_config, table
from prometheus_client import CollectorRegistry

from exporter.core.clock import SystemClock
from exporter.settings import DefaultTenant
from exporter.store import open_store
from exporter.tenancy.catalog import RateLimit
from exporter.tenancy.limit_sync import LimitSync
from exporter.tenancy.loader import load_catalog
from exporter.tenancy.quota import QuotaEnforcer, TokenBucket
from exporter.tenancy.redis_gcra import RedisGcra
from exporter.tenancy.shared_limits import SharedLimits
from exporter.tenancy.usage import UsageTracker


def per_call(fn, calls: int) -> float:  # type: ignore[no-untyped-def]
    """Median of 7 runs, in microseconds per call."""
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs)


async def main(calls: int) -> None:
    workdir = Path(tempfile.mkdtemp())
    catalog = load_catalog(bench_config(workdir / "config"), DefaultTenant())
    tenant = catalog.tenants["bench"]
    clock = SystemClock()
    store = await open_store(f"sqlite:///{workdir}/cost.db")
    usage = UsageTracker(store, clock)
    await usage.load()
    quota = QuotaEnforcer(usage, clock)
    bucket = TokenBucket(1e9, 1_000_000_000, 1e9, clock.monotonic())
    month = usage.month().key
    shared = SharedLimits()
    shared.active = True
    quota_shared = QuotaEnforcer(usage, clock, shared)
    rows = [
        ["QuotaEnforcer.admit (the whole limiter)", f"{per_call(lambda: quota.admit(tenant), calls):.2f}"],
        ["QuotaEnforcer.admit, REDIS_URL: the fleet's credit",
         f"{per_call(lambda: quota_shared.admit(tenant), calls):.2f}"],
        ["  token bucket take()", f"{per_call(lambda: bucket.take(clock.monotonic()), calls):.2f}"],
        ["  usage count()", f"{per_call(lambda: usage.count(tenant.id, month), calls):.2f}"],
        ["  usage api_calls() (month's count)", f"{per_call(lambda: usage.api_calls(tenant.id, month), calls):.2f}"],
        ["for scale: clock.now()", f"{per_call(clock.now, calls):.2f}"],
    ]
    rows.append(["one sync with Redis, one tenant (20 a second)", f"{await sync_cost(tenant.id):.2f}"])
    await store.close()
    print(table(rows, ["operation", "us per call (median of 7)"]))


async def sync_cost(tenant_id: str, syncs: int = 2000) -> float:
    """Median of 7 runs of ``syncs`` syncs (LimitSync.sync_once with one tenant due), in microseconds per sync."""
    limits = SharedLimits()
    redis = RedisGcra("redis://127.0.0.1:6379/0", prefix=f"bench-{time.time_ns()}:", replica="bench", timeout=1.0,
                      stale=3.0)
    sync = LimitSync(limits, redis, SystemClock(), CollectorRegistry(), timeout=1.0)
    share = limits.share(tenant_id, RateLimit(1e9, 1_000_000_000))
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(syncs):
            limits.take(share)
            await sync.sync_once()
        runs.append((time.perf_counter() - start) / syncs * 1e6)
    await sync.close()
    return statistics.median(runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().calls))
