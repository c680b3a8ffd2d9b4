"""The request pipeline: one middleware that takes every request through these steps, in order.

1. telemetry, first and last, so it records the status the client gets (``telemetry.py``);
2. CORS, when origins are configured: preflights are answered here (``cors.py``);
3. the error boundary: a request id, and whatever a handler raises as problem+json
   (``problems.py``);
4. access, for handlers marked with ``requires``: token, quotas, role (``access.py``);
   every answer from here on, errors included, carries the RateLimit headers.

One middleware rather than four: an aiohttp middleware costs a call and a coroutine per
request, and the request path is the part of this service that users measure
(docs/performance.md). The steps stay in their own modules; this is only their order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from exporter import keys
from exporter.api.cors import Cors
from exporter.api.problems import REQUEST_ID, problem_for, request_id_for
from exporter.auth import TENANT, Handler, required_roles
from exporter.errors import ProblemError
from exporter.telemetry import CLIENT_CLOSED, NO_TENANT, HttpMetrics, answered_status, route_of


def request_pipeline(
    app: web.Application, metrics: HttpMetrics | None, *, exclude: Collection[str] = ("/metrics",),
    cors: Cors | None = None,
) -> Middleware:
    """The middleware for ``app``; ``metrics`` None turns telemetry off, ``exclude`` lists
    route templates or paths that are served but not counted (the scrape itself, by default)."""
    excluded = frozenset(exclude)
    perf_counter = time.perf_counter

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = perf_counter()
        route = route_of(request)
        timed = metrics is not None and route not in excluded and request.path not in excluded
        if timed:
            metrics.active += 1  # type: ignore[union-attr]
        status = 500
        tenant_id = NO_TENANT
        response: web.StreamResponse | None = None
        request_id = request_id_for(request)
        request[REQUEST_ID] = request_id
        origin = cors.origin(request) if cors is not None else None
        try:
            try:
                if origin is not None:
                    response = Cors.preflight(request, origin)
                if response is None:
                    roles = required_roles(request.match_info.handler)
                    if roles is None or request.method == "OPTIONS":
                        response = await handler(request)
                    else:
                        gate = app[keys.ACCESS]
                        admitted = gate.admit_known(request, roles) or await gate.admit(request, roles)
                        tenant, limit_headers = admitted
                        tenant_id = tenant.id
                        try:
                            response = await handler(request)
                        except ProblemError as e:
                            e.headers = {**limit_headers, **e.headers}
                            raise
                        except web.HTTPException as e:
                            e.headers.update(limit_headers)
                            raise
                        if not response.prepared:
                            response.headers.update(limit_headers)
            except Exception as e:
                known = request.get(TENANT)  # set once the token is known, also when the answer is 403 or 429
                tenant_id = known.id if known is not None else NO_TENANT
                response = problem_for(request, e)
                if response is None:  # a redirect, which aiohttp answers
                    status = e.status if isinstance(e, web.HTTPException) else status
                    raise
            if not response.prepared:
                response.headers["X-Request-ID"] = request_id
                if origin is not None:
                    Cors.decorate(response, origin)
            status = answered_status(request, response)
            return response
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            if timed:
                metrics.record(  # type: ignore[union-attr]
                    request, route, status, tenant_id, perf_counter() - start, response)

    return pipeline
