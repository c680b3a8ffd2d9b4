"""GET /api/tenant/config: the full service against a bare aiohttp app returning the same JSON.

    .venv/bin/python bench/throughput.py [--rounds 5] [--seconds 10] [--connections 50] [--variants ...]

Every variant of bench/variants.py (the service, the bare aiohttp app with and without the
service's headers, FastAPI), each pinned to one core, wrk pinned to the other, rounds interleaved;
besides req/s and latency, the server's CPU time per request (from /proc).

Then, unless --paced-share 0, the same rounds again with every variant offered the same load
(half the service's saturated req/s by default; wrk's per-request delay): p99 at equal load,
where the saturated runs compare p99 at each variant's own maximum.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import measured, median, table, wrk
from variants import PATH, VARIANTS, start_variants

PACED_LUA = """
wrk.method = "GET"
for k, v in pairs(({headers})) do wrk.headers[k] = v end
function delay() return {delay} end
"""


def lua_table(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in values.items()) + "}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--paced-share", type=float, default=0.5,
                        help="after the saturated rounds, every variant at this share of the service's "
                             "req/s (0 to skip): latency at equal load")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    servers = start_variants(args.variants)
    service = servers["service"][0]
    results: dict[str, list] = {name: [] for name in servers}
    paced: dict[str, list] = {name: [] for name in servers}
    try:
        wrk(service.url + PATH, seconds=2, connections=args.connections, headers=servers["service"][1])
        for _ in range(args.rounds):
            for name, (server, headers) in servers.items():
                results[name].append(measured(server, server.url + PATH, seconds=args.seconds,
                                              connections=args.connections, headers=headers))
        rate = args.paced_share * median([r.rps for r in results["service"]])
        if rate > 0:
            # each connection waits between requests so that all together offer about `rate` req/s
            delay_ms = max(0, round(args.connections / rate * 1000))
            script = Path(tempfile.mkdtemp()) / "paced.lua"
            for _ in range(args.rounds):
                for name, (server, headers) in servers.items():
                    script.write_text(PACED_LUA.format(headers=lua_table(headers), delay=delay_ms))
                    paced[name].append(wrk(server.url + PATH, seconds=args.seconds,
                                           connections=args.connections, script=script))
    finally:
        for server, _ in servers.values():
            server.stop()
    base = results.get("bare") or results["service"]
    base_rps, base_p99 = median([r.rps for r in base]), median([r.p99_ms for r in base])
    rows, summary = [], {}
    service_rps = median([r.rps for r in results["service"]])
    for name, runs in results.items():
        rps, p50, p99, cpu = (median([getattr(r, f) for r in runs])
                              for f in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request"))
        errors = sum(r.errors for r in runs)
        summary[name] = {"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us_per_request": cpu, "errors": errors,
                         "rps_ratio": rps / base_rps, "p99_ratio": p99 / base_p99}
        rows.append([name, f"{rps:,.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{cpu:.0f}", errors,
                     f"{rps / base_rps:.2f}", f"{p99 / base_p99:.2f}", f"{service_rps / rps:.2f}"])
    print(table(rows, ["variant", "req/s (median)", "p50 ms", "p99 ms", "server CPU us/req", "errors",
                       "req/s vs bare", "p99 vs bare", "service is x faster"]))
    if any(paced.values()):
        base_p99 = median([r.p99_ms for r in paced.get("bare") or paced["service"]])
        rows = []
        for name, runs in paced.items():
            rps, p50, p99 = (median([getattr(r, f) for r in runs]) for f in ("rps", "p50_ms", "p99_ms"))
            summary[name].update({"paced_rps": rps, "paced_p50_ms": p50, "paced_p99_ms": p99,
                                  "paced_p99_ratio": p99 / base_p99})
            rows.append([name, f"{rate:,.0f}", f"{rps:,.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{p99 / base_p99:.2f}"])
        print(f"\nAt equal load: every variant offered ~{args.paced_share:.0%} of the service's saturated req/s "
              f"({args.connections} connections, {delay_ms} ms between a connection's requests)\n")
        print(table(rows, ["variant", "offered req/s", "achieved req/s", "p50 ms", "p99 ms", "p99 vs bare"]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
