"""The baseline: a bare aiohttp app answering GET /api/tenant/config with the same JSON bytes,
on the same event loop as the service (uvloop; EVENT_LOOP=asyncio for the standard one).

    python bench/bare_app.py PORT BODY_FILE [--headers] [--middlewares N]

``--headers`` adds the service's six extra response headers (the RateLimit fields and
X-Request-ID, fixed values) and ``--middlewares N`` wraps the route in N middlewares that only
call the handler: together they split the service's overhead into what the bytes on the wire,
aiohttp's middleware chain and the service's own code each cost (throughput.py, docs/performance.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiohttp import web

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("body", type=Path)
    parser.add_argument("--headers", action="store_true")
    parser.add_argument("--middlewares", type=int, default=0)
    args = parser.parse_args()
    body = args.body.read_bytes()
    headers = SERVICE_HEADERS if args.headers else None

    async def config(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers=headers)

    app = web.Application(middlewares=[passthrough] * args.middlewares)
    app.router.add_get("/api/tenant/config", config)
    app.router.add_get("/-/ready", config)
    loop = new_event_loop(Settings.from_env().event_loop)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
