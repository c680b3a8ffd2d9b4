"""Does a scrape stall the service? 100 tenants, every tenant route hit, 20 custom metrics, then
scrapes while probing, then load with and without a Prometheus-like scrape every second.

    .venv/bin/python bench/scrape_stall.py [--tenants 100] [--scrapes 30] [--load-seconds 15]

Reports the exposition size and render time (plain and gzip), the largest event-loop stall
seen during scrapes, measured two ways (the service's own loop-lag histogram with a 1 ms ticker,
and the worst latency of back-to-back /-/healthy requests from a client during the scrapes), and
the p99 of GET /api/tenant/config under wrk without scrapes and with a scrape every second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import math
import time

import aiohttp
from common import Server, median, table, wrk
from prometheus_client.parser import text_string_to_metric_families

ROUTES = ["/api/tenant/config", "/api/tenant/features", "/api/tenant/feature/sso", "/api/tenant/limits",
          "/api/tenant/usage", "/api/tenant/compliance", "/api/tenant/region/cases/1", "/api/tenant/feature/nope"]


def summary(runs: list) -> str:
    return (f"{median([r.p50_ms for r in runs]):.2f} / {median([r.p99_ms for r in runs]):.2f} "
            f"({median([r.rps for r in runs]):,.0f} req/s)")


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
            for i in range(20):
                async with http.post("/api/monitoring/metrics/custom", json={
                        "name": f"bench_custom_{i}", "value": i, "tags": {"kind": "bench"}}) as r:
                    assert r.status == 200, await r.text()
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

            async def scrapes() -> dict[str, list[float]]:
                took: dict[str, list[float]] = {"plain": [], "gzip": []}
                for i in range(args.scrapes):
                    t0 = time.perf_counter()
                    enc = {"Accept-Encoding": "gzip"} if i % 2 else {}
                    async with http.get("/metrics", headers=enc) as r:
                        await r.read()
                    took["gzip" if enc else "plain"].append(time.perf_counter() - t0)
                    await asyncio.sleep(0.05)
                stop.set()
                return took

            probe_task = asyncio.create_task(probe())
            took = await scrapes()
            await probe_task
            async with http.get("/metrics") as r:
                after = await r.text()
            after_over, after_total = lag_over(after, 0.01)

            async def scrape_every_second(stop: asyncio.Event) -> int:
                n = 0
                while not stop.is_set():
                    async with http.get("/metrics", headers={"Accept-Encoding": "gzip"}) as r:
                        await r.read()
                    n += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                return n

            load = {"Authorization": f"Bearer {operator}"}
            quiet_runs, busy_runs, scrapes_during_load = [], [], 0
            for _ in range(args.rounds):  # interleaved, so that a busy machine affects both alike
                quiet_runs.append(await asyncio.to_thread(wrk, f"{server.url}/api/tenant/config",
                                                          seconds=args.load_seconds, connections=20, headers=load))
                stop_scraping = asyncio.Event()
                scraper = asyncio.create_task(scrape_every_second(stop_scraping))
                busy_runs.append(await asyncio.to_thread(wrk, f"{server.url}/api/tenant/config",
                                                         seconds=args.load_seconds, connections=20, headers=load))
                stop_scraping.set()
                scrapes_during_load += await scraper
            spread = {t: lag_over(after, t)[0] - lag_over(text, t)[0] for t in (0.0025, 0.005, 0.01, 0.025, 0.05)}
    finally:
        server.stop()
    lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    def scrape_times(values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]  # nearest rank
        return f"{ordered[len(ordered) // 2] * 1000:.1f} / {p99 * 1000:.1f} ({len(ordered)} scrapes)"

    print(table([
        ["tenants", args.tenants], ["series (sample lines)", lines], ["bytes plain", len(text.encode())],
        ["bytes gzip (level 1)", len(gz)], ["gzip decodes to plain", len(gzip.decompress(gz)) > 0],
        ["scrape wall time p50 / p99 ms, plain", scrape_times(took["plain"])],
        ["scrape wall time p50 / p99 ms, gzip", scrape_times(took["gzip"])],
        ["loop-lag samples > 10 ms during scrapes",
         f"{after_over - before_over:.0f} of {after_total - before_total:.0f}"],
        ["worst /-/healthy latency during scrapes ms", f"{worst * 1000:.1f}"],
        ["loop-lag samples above 2.5/5/10/25/50 ms", " / ".join(f"{v:.0f}" for v in spread.values())],
        ["GET /api/tenant/config p50 / p99 ms, no scrapes (medians)", summary(quiet_runs)],
        [f"... with a scrape every second ({scrapes_during_load} scrapes)", summary(busy_runs)],
    ], ["measure", "value"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--load-seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))
