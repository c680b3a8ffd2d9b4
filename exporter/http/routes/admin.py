"""Operational endpoints, Prometheus-style: ``/-/healthy``, ``/-/ready``, ``POST /-/reload``."""

from __future__ import annotations

import msgspec
from aiohttp import web

from exporter.audit.actions import config_reload
from exporter.auth.keyring import PRINCIPAL, requires
from exporter.core.errors import BadRequest, StoreError
from exporter.http import auditing
from exporter.http import state as keys
from exporter.http.json import json_response
from exporter.http.openapi import operation

routes = web.RouteTableDef()


class Reloaded(msgspec.Struct):
    reloaded: bool
    config_version: str
    files: list[str]


@routes.get("/-/healthy")
@operation(content_type="text/plain")
async def healthy(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.Response(text="tenant-exporter is Healthy.\n")


@routes.get("/-/ready")
@operation(content_type="text/plain", errors=(503,))
async def ready(request: web.Request) -> web.Response:
    """Readiness: the store answers."""
    try:
        await request.app[keys.STORE].ping()
    except StoreError:
        return web.Response(status=503, text="tenant-exporter is not ready: the store is unavailable.\n")
    return web.Response(text="tenant-exporter is Ready.\n")


@routes.post("/-/reload")
@requires("operator")
@operation(Reloaded, errors=(400,))
async def reload(request: web.Request) -> web.Response:
    """Reload every config file; a bad file keeps the old config and answers 400 with the errors."""
    result = await request.app[keys.CONFIG].reload()
    actor = auditing.actor(request[PRINCIPAL])
    await request.app[keys.AUDIT].record(config_reload(result, actor, auditing.context(request)))
    if not result.ok:
        raise BadRequest(
            "the configuration was not reloaded; the previous version stays in use",
            slug="config-invalid", extra={"errors": list(result.errors), "config_version": result.version},
        )
    return json_response(Reloaded(True, result.version, list(result.files)))
