"""Soak: ~70 % of measured capacity for a bounded time, with a Prometheus-like scrape every 15 s.

    .venv/bin/python bench/soak.py [--minutes 10] [--load 0.7] [--delay-ms 5]

Measures capacity first (wrk at full speed, 5 s), then paces wrk (a Lua `delay()` per request,
with as many connections as it takes) to the chosen share of it. Every 15 s it scrapes /metrics
like Prometheus would and reads, from the service's own histogram, the p99 of the last interval;
it records RSS (baseline: after the warm-up and capacity run). Passes when there are zero
unexpected errors (non-2xx or socket errors), RSS grows less than 10 % and the p99 of the last
minute is within 1.5x of the first.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from common import LOAD_CPU, Server, pinned, table, wrk
from prometheus_client.parser import text_string_to_metric_families

PACED_LUA = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %s"
function delay() return %d end
"""
ROUTE = "/api/tenant/config"


def buckets(text: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "http_request_duration_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket") and s.labels.get("route") == ROUTE:
                    le = float(s.labels["le"])
                    out[le] = out.get(le, 0.0) + s.value
    return out


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float | None:
    """histogram_quantile over the bucket increases between two scrapes (linear within a bucket)."""
    inc = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    total = inc[-1][1] if inc else 0.0
    if total <= 0:
        return None
    rank, prev_le, prev_count = q * total, 0.0, 0.0
    for le, count in inc:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-12)
        prev_le, prev_count = le, count
    return prev_le


def errors_5xx(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) if f.name == "http_requests"
               for s in f.samples if s.labels.get("status", "").startswith("5"))


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        return str(r.read().decode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--load", type=float, default=0.7)
    parser.add_argument("--delay-ms", type=int, default=5, help="each connection's pause between requests")
    args = parser.parse_args()
    server = Server("soak", {})
    token = server.token()
    server.start()
    try:
        capacity = wrk(server.url + ROUTE, seconds=5, connections=50,
                       headers={"Authorization": f"Bearer {token}"}).rps
        target = capacity * args.load
        delay_ms = args.delay_ms
        script = Path(tempfile.mkdtemp()) / "paced.lua"
        script.write_text(PACED_LUA % (token, delay_ms))
        # Each connection sends one request per (delay + latency); wrk's delay is whole
        # milliseconds, so the load is set by the number of connections, calibrated here.
        connections = max(1, round(target * (delay_ms + 1) / 1000))
        for _ in range(4):
            achieved = wrk(server.url + ROUTE, seconds=4, connections=connections, script=script).rps
            if abs(achieved / target - 1) < 0.03:
                break
            connections = max(1, round(connections * target / achieved))
        seconds = int(args.minutes * 60)
        load = subprocess.Popen(pinned(LOAD_CPU, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                                                  "-s", str(script), server.url + ROUTE]),
                                stdout=subprocess.PIPE, text=True)
        rss_start, text0 = server.rss_bytes(), scrape(server.url)
        prev, first_5xx, samples = buckets(text0), errors_5xx(text0), []
        started = time.monotonic()
        while load.poll() is None:
            time.sleep(15)
            text = scrape(server.url)
            now = buckets(text)
            samples.append((time.monotonic() - started, quantile(0.99, prev, now), server.rss_bytes()))
            prev = now
        out = load.communicate()[0]
        last_5xx = errors_5xx(scrape(server.url))
    finally:
        server.stop()
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    per_minute: dict[int, list[float]] = {}
    for t, p99, _ in samples:
        if p99 is not None:
            per_minute.setdefault(int(t // 60), []).append(p99)
    minutes = sorted(per_minute)
    first, last = max(per_minute[minutes[0]]), max(per_minute[minutes[-1]])
    rss_end = samples[-1][2]
    growth = (rss_end - rss_start) / rss_start
    rows = [
        ["capacity (wrk, 50 connections)", f"{capacity:,.0f} req/s"],
        [f"paced load ({args.load:.0%}, {connections} connections, {delay_ms} ms delay)",
         f"{done / (args.minutes * 60):,.0f} req/s ({done / (args.minutes * 60) / capacity:.0%} of capacity), "
         f"{done:,} requests in {args.minutes:g} min"],
        ["unexpected errors (non-2xx, socket errors, 5xx counted by the service)",
         f"{non2xx} / {socket_errors} / {last_5xx - first_5xx:.0f}"],
        ["RSS after warm-up -> end", f"{rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB ({growth:+.1%})"],
        ["p99 per minute (ms, from the service's histogram)",
         " ".join(f"{max(per_minute[m]) * 1000:.1f}" for m in minutes)],
        ["first vs last minute p99", f"{first * 1000:.1f} -> {last * 1000:.1f} ms"],
    ]
    ok = non2xx == 0 and socket_errors == 0 and last_5xx == first_5xx and growth < 0.10 and last <= 1.5 * first
    print(table(rows, ["measure", "value"]))
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
