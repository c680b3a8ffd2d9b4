"""CORS for the frontend origins in ``CORS_ORIGINS`` (``*`` allows any), preflight included.

Outermost after telemetry, so that errors and 401s carry the headers a browser needs to
show them, and preflights never meet the auth check.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from exporter.auth import Handler

ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-ID, X-Tenant-ID"
EXPOSE_HEADERS = (
    "ETag, Retry-After, X-Request-ID, RateLimit, RateLimit-Policy, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Link, Content-Disposition"
)


def cors_middleware(origins: Collection[str]) -> web.middleware:  # type: ignore[valid-type]
    allowed = frozenset(origins)
    any_origin = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or not (any_origin or origin in allowed):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            })
        response = await handler(request)
        if not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            response.headers.add("Vary", "Origin")
        return response

    return middleware
