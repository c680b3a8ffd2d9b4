"""The baseline: a bare aiohttp app answering GET /api/tenant/config with the same JSON bytes,
on the same event loop as the service (uvloop; EVENT_LOOP=asyncio for the standard one).

    python bench/bare_app.py PORT BODY_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from exporter.runtime import new_event_loop
from exporter.settings import Settings


def main() -> None:
    port, body = int(sys.argv[1]), Path(sys.argv[2]).read_bytes()

    async def config(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/tenant/config", config)
    app.router.add_get("/-/ready", config)
    loop = new_event_loop(Settings.from_env().event_loop)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
