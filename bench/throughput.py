"""GET /api/tenant/config: the full service against a bare aiohttp app returning the same JSON.

    .venv/bin/python bench/throughput.py [--rounds 5] [--seconds 10] [--connections 50] [--variants ...]

Variants (all pinned to one core, wrk pinned to the other, rounds interleaved):
  service          the whole request pipeline: telemetry, problems, auth, quota (the tenant's rate is far
                   above the load, so nothing is throttled)
  no-telemetry     the same with METRICS_ENABLED=false (what request telemetry costs)
  bare             bench/bare_app.py: aiohttp, one route, the same response body, on the same
                   event loop as the service (uvloop)
  bare+headers     the same plus the service's six extra response headers (fixed values): what is
                   left between this and `service` is the service's own code per request
  bare+headers+mw  the same behind one aiohttp middleware that only calls the handler: what the
                   service saves by wrapping each route's handler instead (exporter/api/pipeline.py)
  fastapi          bench/fastapi_app.py: FastAPI + prometheus-fastapi-instrumentator on uvicorn with
                   uvloop and httptools, the same body behind the same SHA-256 token check (its
                   packages live only in bench/.venv-fastapi, made on first use)

Then, unless --paced-share 0, the same rounds again with every variant offered the same load
(half the service's saturated req/s by default; wrk's per-request delay): p99 at equal load,
where the saturated runs compare p99 at each variant's own maximum.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from common import PYTHON, ROOT, Server, measured, median, table, wrk

PACED_LUA = """
wrk.method = "GET"
for k, v in pairs(({headers})) do wrk.headers[k] = v end
function delay() return {delay} end
"""
VARIANTS = ("service", "no-telemetry", "bare+headers+mw", "bare+headers", "bare", "fastapi")
BARE_FLAGS = {"bare": [], "bare+headers": ["--headers"], "bare+headers+mw": ["--headers", "--middlewares", "1"]}
FASTAPI_VENV = ROOT / "bench" / ".venv-fastapi"


def fastapi_python() -> str:
    """The benchmark-only environment for the FastAPI comparison, created on first use."""
    python = FASTAPI_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FASTAPI_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements-fastapi.txt")],
                   check=True)
    return str(python)


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

    service = Server("service", {})
    token = service.token()
    servers: dict[str, tuple[Server, dict[str, str]]] = {"service": (service, {"Authorization": f"Bearer {token}"})}
    if "no-telemetry" in args.variants:
        quiet = Server("no-telemetry", {"METRICS_ENABLED": "false"})
        servers["no-telemetry"] = (quiet, {"Authorization": f"Bearer {quiet.token()}"})
    service.start()
    request = urllib.request.Request(f"{service.url}/api/tenant/config", headers=servers["service"][1])
    with urllib.request.urlopen(request) as r:
        body = r.read()
    for name, flags in BARE_FLAGS.items():
        if name in args.variants:
            bare = Server(name, {})
            (bare.dir / "body.json").write_bytes(body)
            bare.argv = [PYTHON, str(ROOT / "bench" / "bare_app.py"), str(bare.port), str(bare.dir / "body.json"),
                         *flags]
            servers[name] = (bare, {})
    if "fastapi" in args.variants:
        fast = Server("fastapi", {})
        (fast.dir / "body.json").write_bytes(body)
        fast.argv = [fastapi_python(), str(ROOT / "bench" / "fastapi_app.py"), str(fast.port),
                     str(fast.dir / "body.json"), token]
        servers["fastapi"] = (fast, {"Authorization": f"Bearer {token}"})
    for name, (server, _) in servers.items():
        if name != "service":
            server.start()
    results: dict[str, list] = {name: [] for name in servers}
    paced: dict[str, list] = {name: [] for name in servers}
    try:
        wrk(f"{service.url}/api/tenant/config", seconds=2, connections=args.connections, headers=servers["service"][1])
        for _ in range(args.rounds):
            for name, (server, headers) in servers.items():
                results[name].append(measured(server, f"{server.url}/api/tenant/config", seconds=args.seconds,
                                              connections=args.connections, headers=headers))
        rate = args.paced_share * median([r.rps for r in results["service"]])
        if rate > 0:
            # each connection waits between requests so that all together offer about `rate` req/s
            delay_ms = max(0, round(args.connections / rate * 1000))
            script = Path(tempfile.mkdtemp()) / "paced.lua"
            for _ in range(args.rounds):
                for name, (server, headers) in servers.items():
                    script.write_text(PACED_LUA.format(headers=lua_table(headers), delay=delay_ms))
                    paced[name].append(wrk(f"{server.url}/api/tenant/config", seconds=args.seconds,
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
