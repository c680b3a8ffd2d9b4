"""``GET /api/openapi.json``: the OpenAPI 3.1 description of every route, built at startup."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from exporter.http.json import json_response
from exporter.http.openapi import operation

routes = web.RouteTableDef()
SPEC: Final = web.AppKey("openapi_spec", dict[str, Any])


@routes.get("/api/openapi.json")
@operation(dict[str, Any], tags=("docs",))
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this service (public)."""
    return json_response(request.app[SPEC])
