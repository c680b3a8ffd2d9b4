"""GET /api/tenant/config: the full service against a bare aiohttp app returning the same JSON.

    .venv/bin/python bench/throughput.py [--rounds 5] [--seconds 10] [--connections 50] [--variants ...]

Variants (all pinned to one core, wrk pinned to the other, rounds interleaved):
  service          every middleware on: telemetry, problems, auth, quota (the tenant's rate is far
                   above the load, so nothing is throttled)
  no-telemetry     the same with METRICS_ENABLED=false (what request telemetry costs)
  bare             bench/bare_app.py: aiohttp, one route, the same response body, on the same
                   event loop as the service (uvloop)
  fastapi          bench/fastapi_app.py: FastAPI + prometheus-fastapi-instrumentator on uvicorn with
                   uvloop and httptools, the same body behind the same SHA-256 token check (its
                   packages live only in bench/.venv-fastapi, made on first use)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from common import PYTHON, ROOT, Server, measured, median, table, wrk

VARIANTS = ("service", "no-telemetry", "bare", "fastapi")
FASTAPI_VENV = ROOT / "bench" / ".venv-fastapi"


def fastapi_python() -> str:
    """The benchmark-only environment for the FastAPI comparison, created on first use."""
    python = FASTAPI_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FASTAPI_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements-fastapi.txt")],
                   check=True)
    return str(python)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
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
    if "bare" in args.variants:
        bare = Server("bare", {})
        (bare.dir / "body.json").write_bytes(body)
        bare.argv = [PYTHON, str(ROOT / "bench" / "bare_app.py"), str(bare.port), str(bare.dir / "body.json")]
        servers["bare"] = (bare, {})
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
    try:
        wrk(f"{service.url}/api/tenant/config", seconds=2, connections=args.connections, headers=servers["service"][1])
        for _ in range(args.rounds):
            for name, (server, headers) in servers.items():
                results[name].append(measured(server, f"{server.url}/api/tenant/config", seconds=args.seconds,
                                              connections=args.connections, headers=headers))
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
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
