"""CORS for the frontend origins in ``CORS_ORIGINS`` (``*`` allows any), preflight included.

A step of the request pipeline (``pipeline.py``) right after telemetry, so that errors and 401s
carry the headers a browser needs to show them, and preflights never meet the auth check.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-ID, X-Tenant-ID"
EXPOSE_HEADERS = (
    "ETag, Retry-After, X-Request-ID, RateLimit, RateLimit-Policy, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Link, Content-Disposition"
)


class Cors:
    """The CORS step of the request pipeline, for the allowed ``origins``."""

    def __init__(self, origins: Collection[str]) -> None:
        self._allowed = frozenset(origins)
        self._any = "*" in self._allowed

    def origin(self, request: web.Request) -> str | None:
        """The request's ``Origin`` when it is allowed, else None (then nothing here applies)."""
        origin = request.headers.get("Origin")
        return origin if origin is not None and (self._any or origin in self._allowed) else None

    @staticmethod
    def preflight(request: web.Request, origin: str) -> web.Response | None:
        """The answer to a preflight (which never meets the auth check); None for other requests."""
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })

    @staticmethod
    def decorate(response: web.StreamResponse, origin: str) -> None:
        if not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            response.headers.add("Vary", "Origin")
