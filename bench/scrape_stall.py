"""Does a scrape stall the service? 100 tenants, every tenant route hit, then scrapes while probing.

    .venv/bin/python bench/scrape_stall.py [--tenants 100] [--scrapes 30]

Reports the exposition size and render time (plain and gzip), and the largest event-loop stall
seen during scrapes, measured two ways: the service's own loop-lag histogram (1 ms ticker) and
the worst latency of back-to-back /-/healthy requests from a client during the scrapes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import time

import aiohttp
from common import Server, table
from prometheus_client.parser import text_string_to_metric_families

ROUTES = ["/api/tenant/config", "/api/tenant/features", "/api/tenant/feature/sso", "/api/tenant/limits",
          "/api/tenant/usage", "/api/tenant/compliance", "/api/tenant/region/cases/1", "/api/tenant/feature/nope"]


def lag_over(text: str, threshold: float) -> tuple[float, float]:
    """(samples above threshold, total samples) from the loop-lag histogram."""
    buckets = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "tenant_exporter_event_loop_lag_seconds":
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    buckets[float(s.labels["le"])] = s.value
    below = max(v for le, v in buckets.items() if le <= threshold)
    return buckets[float("inf")] - below, buckets[float("inf")]


async def run(args: argparse.Namespace) -> None:
    server = Server("stall", {"LOOP_LAG_INTERVAL": "0.001"}, tenants=args.tenants)
    operator = server.token("bench", "operator")
    server.start()
    try:
        async with aiohttp.ClientSession(server.url, headers={"Authorization": f"Bearer {operator}"}) as http:
            for i in range(args.tenants):
                tenant = "bench" if i == 0 else f"tenant-{i:03d}"
                for route in ROUTES:
                    async with http.get(route, headers={"X-Tenant-ID": tenant}) as r:
                        await r.read()
            await asyncio.sleep(6)  # a usage flush refreshes the per-tenant usage gauges
            async with http.get("/metrics") as r:
                text = await r.text()
            async with http.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as r:
                gz = await r.read()
            before_over, before_total = lag_over(text, 0.01)
            worst = 0.0
            stop = asyncio.Event()

            async def probe() -> None:
                nonlocal worst
                while not stop.is_set():
                    t0 = time.perf_counter()
                    async with http.get("/-/healthy") as r:
                        await r.read()
                    worst = max(worst, time.perf_counter() - t0)

            async def scrapes() -> list[float]:
                took = []
                for i in range(args.scrapes):
                    t0 = time.perf_counter()
                    enc = {"Accept-Encoding": "gzip"} if i % 2 else {}
                    async with http.get("/metrics", headers=enc) as r:
                        await r.read()
                    took.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.05)
                stop.set()
                return took

            probe_task = asyncio.create_task(probe())
            took = await scrapes()
            await probe_task
            async with http.get("/metrics") as r:
                after = await r.text()
            after_over, after_total = lag_over(after, 0.01)
            spread = {t: lag_over(after, t)[0] - lag_over(text, t)[0] for t in (0.0025, 0.005, 0.01, 0.025, 0.05)}
    finally:
        server.stop()
    lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    took.sort()
    print(table([
        ["tenants", args.tenants], ["series (sample lines)", lines], ["bytes plain", len(text.encode())],
        ["bytes gzip (level 1)", len(gz)], ["gzip decodes to plain", len(gzip.decompress(gz)) > 0],
        ["scrape wall time p50 / max ms", f"{took[len(took) // 2] * 1000:.1f} / {took[-1] * 1000:.1f}"],
        ["loop-lag samples > 10 ms during scrapes",
         f"{after_over - before_over:.0f} of {after_total - before_total:.0f}"],
        ["worst /-/healthy latency during scrapes ms", f"{worst * 1000:.1f}"],
        ["loop-lag samples above 2.5/5/10/25/50 ms", " / ".join(f"{v:.0f}" for v in spread.values())],
    ], ["measure", "value"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=30)
    asyncio.run(run(parser.parse_args()))
