"""``GET /api/openapi.json``: the OpenAPI 3.1 description of every route, built once the routes are wired."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exporter.http.json import json_response
from exporter.http.openapi import operation


class DocsApi:
    def __init__(self) -> None:
        self.spec: dict[str, Any] = {}  # set at start-up, when every route is known

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/openapi.json", self.openapi)]

    @operation(dict[str, Any], tags=("docs",))
    async def openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 description of this service (public)."""
        return json_response(self.spec)
