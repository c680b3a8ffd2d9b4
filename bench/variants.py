"""The servers that answer GET /api/tenant/config, for the request-path benchmarks
(``throughput.py``: wrk; ``instructions.py``: instructions per request under callgrind).

  service          the whole request pipeline: telemetry, problems, auth, quota (the tenant's rate is far
                   above the load, so nothing is throttled)
  no-telemetry     the same with METRICS_ENABLED=false (what request telemetry costs)
  shared-limits    the same with REDIS_URL (Redis on 127.0.0.1:6379): the per-second limit is the fleet's,
                   decided on this replica's credit and synced with Redis in the background
  bare+headers+mw  bench/bare_app.py with the six extra headers and one pass-through middleware: what the
                   service saves by wrapping each route's handler instead (exporter/http/pipeline.py)
  bare+headers     the bare app plus the service's six extra response headers (fixed values): what is
                   left between this and `service` is the service's own code per request
  bare             bench/bare_app.py, one aiohttp route returning the same bytes on the same event loop
  bare+prom        the bare app with a prometheus_client middleware (two metrics) and /metrics, no auth:
                   what users would run instead (issue 17's anchor)
  fastapi          bench/fastapi_app.py: FastAPI + prometheus-fastapi-instrumentator on uvicorn (uvloop,
                   httptools), in its own virtual environment, doing the same token check
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence

from common import PYTHON, ROOT, Server

VARIANTS = ("service", "no-telemetry", "shared-limits", "bare+headers+mw", "bare+headers", "bare+prom", "bare",
            "fastapi")
BARE_FLAGS = {"bare": [], "bare+headers": ["--headers"], "bare+headers+mw": ["--headers", "--middlewares", "1"],
              "bare+prom": ["--prometheus"]}
FASTAPI_VENV = ROOT / "bench" / ".venv-fastapi"
PATH = "/api/tenant/config"


def fastapi_python() -> str:
    """The benchmark-only environment for the FastAPI comparison, created on first use."""
    python = FASTAPI_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FASTAPI_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements-fastapi.txt")],
                   check=True)
    return str(python)


def start_variants(names: Sequence[str], *, wrap: Sequence[str] = (), timeout: float = 30.0,
                   ) -> dict[str, tuple[Server, dict[str, str]]]:
    """Start ``service`` and each of ``names``; each server with the request headers it needs.

    ``wrap`` goes before every server's command (e.g. valgrind). The service always runs: the
    other variants answer with the bytes it answers with.
    """
    service = Server("service", {})
    token = service.token()
    servers: dict[str, tuple[Server, dict[str, str]]] = {"service": (service, {"Authorization": f"Bearer {token}"})}
    if "no-telemetry" in names:
        quiet = Server("no-telemetry", {"METRICS_ENABLED": "false"})
        servers["no-telemetry"] = (quiet, {"Authorization": f"Bearer {quiet.token()}"})
    if "shared-limits" in names:
        shared = Server("shared-limits", {"REDIS_URL": "redis://127.0.0.1:6379/0",
                                          "REDIS_KEY_PREFIX": f"bench-{os.getpid()}:"})
        servers["shared-limits"] = (shared, {"Authorization": f"Bearer {shared.token()}"})
    for name, flags in BARE_FLAGS.items():
        if name in names:
            bare = Server(name, {})
            bare.argv = [PYTHON, str(ROOT / "bench" / "bare_app.py"), str(bare.port), str(bare.dir / "body.json"),
                         *flags]
            servers[name] = (bare, {})
    if "fastapi" in names:
        fast = Server("fastapi", {})
        fast.argv = [fastapi_python(), str(ROOT / "bench" / "fastapi_app.py"), str(fast.port),
                     str(fast.dir / "body.json"), token]
        servers["fastapi"] = (fast, {"Authorization": f"Bearer {token}"})
    try:
        service.argv = [*wrap, *service.argv]
        service.start(timeout=timeout)
        with urllib.request.urlopen(urllib.request.Request(service.url + PATH, headers=servers["service"][1])) as r:
            body = r.read()
        for name, (server, _) in servers.items():
            if name != "service":
                (server.dir / "body.json").write_bytes(body)
                server.argv = [*wrap, *server.argv]
                server.start(timeout=timeout)
    except BaseException:
        for server, _ in servers.values():
            server.stop()
        raise
    return servers
