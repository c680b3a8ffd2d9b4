"""SaaS scale: N tenants provisioned through the API, then a restart, then scrapes back to back.

    .venv/bin/python bench/scale.py [--tenants 10 1000 10000 100000] [--clients 8] [--seconds 10]

For each N, on a fresh SQLite database and a server pinned to core 0 (loopback only):
1. N tenants are created with ``POST /api/admin/tenants`` (``--clients`` at a time, each with an
   ``Idempotency-Key``), and an admin key through ``POST /api/keys`` for one of them;
2. the server is stopped (SIGTERM) and started again: *start* is the time from spawn to ``/-/ready``;
3. one plain scrape of ``/metrics``: its size, its series and the series per tenant; *RSS after a scrape*;
4. ``--scrapes`` scrapes each plain and gzip, one after another: their wall time p50 / p99 (*render*), and
   the event loop's worst lag meanwhile;
5. ``GET /api/tenant/config`` with wrk (1 connection, core 1) for ``--seconds``, first alone, then while a
   client scrapes ``/metrics`` back to back (gzip, as Prometheus asks): the p99 of each, and the event
   loop's lag during the scrapes from the service's own histogram (a 1 ms ticker);
6. ``POST /-/reload`` (every tenant rebuilt against the files) under the same wrk: how long it took, the
   config p99 and the loop lag meanwhile.

Timings on this shared machine include other processes' use of its two cores (the load average is in
the table); ``bench/loop_steps.py`` measures the longest event-loop steps in CPU time instead.

Every phase has a deadline (``--deadline`` seconds), so the script always ends. ``--create store`` writes
the rows straight into the database instead of step 1 (to iterate quickly; not the measured path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
from common import LOAD_CPU, PYTHON, Server, median, table, wrk
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def load_average() -> str:
    """The 1-minute load average: other work on this shared machine shows in every timing."""
    return Path("/proc/loadavg").read_text().split()[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def lag_counts(text: str) -> dict[float, float]:
    """Cumulative loop-lag bucket counts (le -> count) from an exposition."""
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "tenant_exporter_event_loop_lag_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    out[float(s.labels["le"])] = s.value
    return out


def worst_lag(before: dict[float, float], after: dict[float, float]) -> str:
    """The smallest bucket edge below which every lag sample taken between the two scrapes fell."""
    total = after[math.inf] - before[math.inf]
    for le in sorted(after):
        if after[le] - before.get(le, 0.0) >= total:
            return f"≤ {le * 1000:g} ms ({total:.0f} samples)" if le != math.inf else "> 1 s"
    return "?"


async def create_api(server: Server, operator: str, n: int, clients: int, deadline: float) -> float:
    """Create tenant-000001.. through the API; return tenants per second."""
    queue = iter(range(1, n + 1))
    started = time.perf_counter()

    async def worker(http: aiohttp.ClientSession) -> None:
        for i in queue:
            body = {"id": f"tenant-{i:06d}", "name": f"Tenant {i}", "plan": ("free", "standard", "professional")[i % 3],
                    "region": "us-east"}
            async with http.post("/api/admin/tenants", json=body,
                                 headers={"Idempotency-Key": str(uuid.uuid4())}) as r:
                if r.status != 201:
                    raise RuntimeError(f"create {body['id']}: {r.status} {await r.text()}")

    async with aiohttp.ClientSession(server.url, headers={"Authorization": f"Bearer {operator}"},
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        await asyncio.wait_for(asyncio.gather(*(worker(http) for _ in range(clients))), deadline)
        async with http.post("/api/keys", json={"role": "admin", "tenant": f"tenant-{n:06d}"}) as r:
            assert r.status == 201, await r.text()
    return n / (time.perf_counter() - started)


def create_store(server: Server, n: int) -> float:
    """The same rows written straight into the database (not through the API)."""
    started = time.perf_counter()
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(ROOT)!r})
from exporter.store import open_store
from tests.support.provisioning import write_rows
async def main():
    store = await open_store({server.env['DATABASE_URL']!r})
    ids = [f"tenant-{{i:06d}}" for i in range(1, {n} + 1)]
    for start in range(0, len(ids), 5000):
        await write_rows(store, ids[start:start + 5000])
    await store.close()
asyncio.run(main())
"""
    subprocess.run([PYTHON, "-c", code], check=True, cwd=ROOT)
    return n / (time.perf_counter() - started)


def restart(server: Server, deadline: float) -> float:
    assert server.proc is not None
    server.proc.terminate()
    server.proc.wait(60)
    started = time.perf_counter()
    server.start(timeout=deadline)
    return time.perf_counter() - started


def loop_lag(url: str) -> dict[float, float]:
    """The loop-lag histogram alone (``name[]``): reading it through a whole 57 MB scrape would stall the
    loop in the phase being measured, for the write of that answer."""
    return lag_counts(scrape(url, query="?name[]=tenant_exporter_event_loop_lag_seconds_bucket")[1].decode())


def scrape(url: str, gzip: bool = False, query: str = "") -> tuple[float, bytes]:
    request = urllib.request.Request(url + "/metrics" + query, headers={"Accept-Encoding": "gzip"} if gzip else {})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as r:
        body = r.read()
    return time.perf_counter() - started, body


async def under_scrapes(server: Server, viewer: str, seconds: int) -> tuple[float, int, str]:
    """wrk on the config while a client scrapes back to back: (config p99 ms, scrapes, worst loop lag)."""
    before = loop_lag(server.url)
    stop = asyncio.Event()
    scrapes = 0

    async def scraper() -> None:
        nonlocal scrapes
        async with aiohttp.ClientSession(server.url, auto_decompress=False) as http:
            while not stop.is_set():
                async with http.get("/metrics", headers={"Accept-Encoding": "gzip"}) as r:
                    await r.read()
                scrapes += 1

    task = asyncio.create_task(scraper())
    result = await asyncio.to_thread(wrk, f"{server.url}/api/tenant/config", seconds=seconds, connections=1,
                                     headers={"Authorization": f"Bearer {viewer}"})
    stop.set()
    await task
    after = loop_lag(server.url)
    return result.p99_ms, scrapes, worst_lag(before, after)


async def during_reload(server: Server, operator: str, viewer: str) -> tuple[float, float, str]:
    """A reload of every file (and every API tenant rebuilt) while wrk asks for the config:
    (reload s, config p99 ms meanwhile, worst loop lag meanwhile)."""
    before = loop_lag(server.url)

    async def reload() -> float:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        async with aiohttp.ClientSession(server.url) as http, http.post(
                "/-/reload", headers={"Authorization": f"Bearer {operator}"}) as r:
            assert r.status == 200, await r.text()
        return time.perf_counter() - started

    took, result = await asyncio.gather(reload(), asyncio.to_thread(
        wrk, f"{server.url}/api/tenant/config", seconds=4, connections=1,
        headers={"Authorization": f"Bearer {viewer}"}))
    return took, result.p99_ms, worst_lag(before, loop_lag(server.url))


async def one(n: int, args: argparse.Namespace) -> dict[str, object]:
    server = Server(f"scale-{n}", {"LOOP_LAG_INTERVAL": "0.001"})
    operator, viewer = server.token("bench", "operator"), server.token("bench", "viewer")
    server.start(timeout=args.deadline)
    try:
        rate = (await create_api(server, operator, n, args.clients, args.deadline) if args.create == "api"
                else create_store(server, n))
        start = restart(server, args.deadline)
        took, body = scrape(server.url)
        rss = server.rss_bytes()
        text = body.decode()
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        per_tenant = sum(1 for s in samples if s.labels.get("tenant") == f"tenant-{n:06d}")
        lag_before = loop_lag(server.url)
        plain = [scrape(server.url)[0] for _ in range(args.scrapes)]
        gzipped = [scrape(server.url, gzip=True) for _ in range(args.scrapes)]
        scrapes_lag = worst_lag(lag_before, loop_lag(server.url))
        quiet = await asyncio.to_thread(wrk, f"{server.url}/api/tenant/config", seconds=args.seconds, connections=1,
                                        headers={"Authorization": f"Bearer {viewer}"})
        busy_p99, scrapes, lag = await under_scrapes(server, viewer, args.seconds)
        reload_took, reload_p99, reload_lag = await during_reload(server, operator, viewer)
    finally:
        server.stop()
    return {
        "tenants": n, "created per s": round(rate), "start s": round(start, 2), "RSS after a scrape MB":
        round(rss / 1e6), "/metrics MB": round(len(body) / 1e6, 2), "gzip MB": round(len(gzipped[0][1]) / 1e6, 2),
        "series": len(samples), "series per tenant": per_tenant,
        "scrape p50 / p99 ms": f"{median(plain) * 1000:.0f} / {percentile(plain, 0.99) * 1000:.0f}",
        "gzip scrape p50 / p99 ms": f"{median([t for t, _ in gzipped]) * 1000:.0f} / "
                                    f"{percentile([t for t, _ in gzipped], 0.99) * 1000:.0f}",
        "worst loop lag, these scrapes": scrapes_lag,
        "config p99 ms alone": quiet.p99_ms, "config p99 ms, scrapes back to back": busy_p99,
        "scrapes meanwhile": scrapes, "worst loop lag": lag, "first scrape s": round(took, 2),
        "reload s": round(reload_took, 2), "config p99 ms during the reload": reload_p99,
        "worst loop lag during the reload": reload_lag,
        "load average": load_average(),
    }


async def main() -> None:
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # this client (the scraper) with wrk, away from the server's core
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, nargs="+", default=[10, 1000, 10_000, 100_000])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--scrapes", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds any one phase may take")
    parser.add_argument("--create", choices=["api", "store"], default="api")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = [await one(n, args) for n in args.tenants]
    print(table([list(r.values()) for r in rows], list(rows[0])))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
