"""The baseline: a bare aiohttp app answering GET /api/tenant/config with the same JSON bytes,
on the same event loop as the service (uvloop; EVENT_LOOP=asyncio for the standard one).

    python bench/bare_app.py PORT BODY_FILE [--headers] [--middlewares N] [--prometheus]

``--headers`` adds the service's six extra response headers (the RateLimit fields and
X-Request-ID, fixed values) and ``--middlewares N`` wraps the route in N middlewares that only
call the handler: together they split the service's overhead into what the bytes on the wire,
aiohttp's middleware chain and the service's own code each cost (throughput.py, docs/performance.md).
``--prometheus`` is what a user would write instead of this service's telemetry: a prometheus_client
middleware with two metrics (requests by method, route and status; latency by method and route) and
a ``/metrics`` route, no authentication (issue 17's anchor).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from exporter.app.runtime import new_event_loop
from exporter.settings import Settings

SERVICE_HEADERS = {
    "RateLimit-Policy": '"monthly";q=50000000;w=2592000, "burst";q=1000000000;w=1',
    "RateLimit": '"monthly";r=49999999;t=406776, "burst";r=999999999;t=1',
    "RateLimit-Limit": "50000000",
    "RateLimit-Remaining": "49999999",
    "RateLimit-Reset": "406776",
    "X-Request-ID": "f4acf0e0c16500000001",
}


@web.middleware
async def passthrough(request: web.Request, handler: Any) -> web.StreamResponse:
    return await handler(request)  # type: ignore[no-any-return]


def prometheus_middleware(registry: CollectorRegistry) -> Any:
    """The usual aiohttp + prometheus_client instrumentation: a counter and a histogram per request."""
    requests = Counter("http_requests", "Requests.", ["method", "route", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "Latency.", ["method", "route"], registry=registry)

    @web.middleware
    async def instrument(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        response: web.StreamResponse = await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        latency.labels(request.method, route).observe(time.perf_counter() - start)
        requests.labels(request.method, route, str(response.status)).inc()
        return response

    return instrument


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("body", type=Path)
    parser.add_argument("--headers", action="store_true")
    parser.add_argument("--middlewares", type=int, default=0)
    parser.add_argument("--prometheus", action="store_true")
    args = parser.parse_args()
    body = args.body.read_bytes()
    headers = SERVICE_HEADERS if args.headers else None

    async def config(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers=headers)

    registry = CollectorRegistry()
    middlewares = [prometheus_middleware(registry)] if args.prometheus else []
    app = web.Application(middlewares=[*middlewares, *[passthrough] * args.middlewares])

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/api/tenant/config", config)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/ready", config)
    loop = new_event_loop(Settings.from_env().event_loop)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
