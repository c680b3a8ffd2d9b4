"""The rate limiter's own cost: one QuotaEnforcer.admit() (monthly quota check, token bucket,
usage count and the five RateLimit header values), timed in-process with no HTTP around it.

    .venv/bin/python bench/ratelimit_cost.py [--calls 200000]

Also times the parts it is made of, so the figure can be read against them; throughput.py shows
the whole request path, this shows the limiter alone.
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

from exporter.core.clock import SystemClock
from exporter.settings import DefaultTenant
from exporter.store import open_store
from exporter.tenancy.loader import load_catalog
from exporter.tenancy.quota import QuotaEnforcer, TokenBucket
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
    rows = [
        ["QuotaEnforcer.admit (the whole limiter)", f"{per_call(lambda: quota.admit(tenant), calls):.2f}"],
        ["  token bucket take()", f"{per_call(lambda: bucket.take(clock.monotonic()), calls):.2f}"],
        ["  usage count()", f"{per_call(lambda: usage.count(tenant.id, month), calls):.2f}"],
        ["  usage api_calls() (month's count)", f"{per_call(lambda: usage.api_calls(tenant.id, month), calls):.2f}"],
        ["for scale: clock.now()", f"{per_call(clock.now, calls):.2f}"],
    ]
    await store.close()
    print(table(rows, ["operation", "us per call (median of 7)"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().calls))
