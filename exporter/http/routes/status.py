"""The public status page (``/status``) and its uptime badges.

The page is one static HTML file with a same-origin script and stylesheet (``exporter/http/static``,
no build step, no CDN), served with a Content-Security-Policy that allows nothing else; the
script fetches ``GET /api/monitoring/status`` (``routes/sla.py``) and draws it. Badges read the same
status, through ``SlaApi.current_status``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from hashlib import sha256
from importlib import resources
from typing import Final

from aiohttp import web

from exporter.core.errors import NotFound
from exporter.core.parsing import schema_pattern
from exporter.http.openapi import operation
from exporter.sla.badges import uptime_badge
from exporter.sla.models import StatusOut

SERVICE_PATTERN: Final = "[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
PAGE_POLICY: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                      "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PUBLIC: Final = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def asset(name: str, content_type: str) -> Asset:
    """A file of ``exporter/http/static``, read once."""
    body = (resources.files("exporter.http") / "static" / name).read_bytes()
    return Asset(body, content_type, f'"{sha256(body).hexdigest()[:20]}"')


def _serve(request: web.Request, item: Asset, headers: dict[str, str] | None = None) -> web.Response:
    common = {"ETag": item.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
              **(headers or {})}
    if item.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=common)
    response = web.Response(body=item.body, headers=common)
    response.headers["Content-Type"] = item.content_type
    return response


class StatusPageApi:
    """``status`` gives the current status (``SlaApi.current_status``)."""

    def __init__(self, status: Callable[[], StatusOut]) -> None:
        self._status = status

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/status", self.status_page), web.get("/status/status.js", self.status_script),
                web.get("/status/status.css", self.status_stylesheet),
                web.get(f"/status/badge/{{service:{SERVICE_PATTERN}}}.svg", self.status_badge)]

    @operation(content_type="text/html", alternatives={304: None}, tags=("status",))
    async def status_page(self, request: web.Request) -> web.Response:
        """The human status page: overall status, each service with 90 days of uptime bars, current incidents.

        Public. One HTML document that loads ``/status/status.js`` and ``/status/status.css`` and
        draws ``/api/monitoring/status``.
        """
        return _serve(request, asset("status.html", "text/html; charset=utf-8"),
                      {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "no-referrer"})

    @operation(content_type="text/javascript", alternatives={304: None}, tags=("status",))
    async def status_script(self, request: web.Request) -> web.Response:
        """The status page's script (public)."""
        return _serve(request, asset("status.js", "text/javascript; charset=utf-8"))

    @operation(content_type="text/css", alternatives={304: None}, tags=("status",))
    async def status_stylesheet(self, request: web.Request) -> web.Response:
        """The status page's stylesheet (public)."""
        return _serve(request, asset("status.css", "text/css; charset=utf-8"))

    @operation(content_type="image/svg+xml", errors=(404,), tags=("status",),
               path_patterns={"service": schema_pattern(SERVICE_PATTERN)})
    async def status_badge(self, request: web.Request) -> web.Response:
        """A Shields.io-style SVG badge: the service's month-to-date uptime, coloured by its current status.

        Public. 404 (problem+json) for a service the status does not list.
        """
        service = request.match_info["service"]
        component = next((c for c in self._status().components if c.id == service), None)
        if component is None:
            raise NotFound(f"no service {service!r} on the status page", slug="unknown-service")
        response = web.Response(text=uptime_badge(component), headers=PUBLIC)
        response.headers["Content-Type"] = "image/svg+xml; charset=utf-8"
        return response
