"""Operational endpoints, Prometheus-style: ``/-/healthy``, ``/-/ready``, ``POST /-/reload``."""

from __future__ import annotations

import msgspec
from aiohttp import web

from exporter.audit.actions import config_reload
from exporter.config import ConfigHolder
from exporter.core.errors import BadRequest, StoreError
from exporter.http.auditing import Auditing, actor, context
from exporter.http.caller import PRINCIPAL, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation
from exporter.store import Store


class Reloaded(msgspec.Struct):
    reloaded: bool
    config_version: str
    files: list[str]
    # the fleet's count of reloads, this one included: every replica reloads when it sees it (within
    # FLEET_POLL_INTERVAL); null when it could not be passed on (the database is unavailable)
    generation: int | None


class OperationsApi:
    def __init__(self, store: Store, config: ConfigHolder, auditing: Auditing) -> None:
        self._store = store
        self._config = config
        self._auditing = auditing

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/-/healthy", self.healthy), web.get("/-/ready", self.ready),
                web.post("/-/reload", self.reload)]

    @operation(content_type="text/plain")
    async def healthy(self, request: web.Request) -> web.Response:
        """Liveness: the process answers."""
        return web.Response(text="tenant-exporter is Healthy.\n")

    @operation(content_type="text/plain", errors=(503,))
    async def ready(self, request: web.Request) -> web.Response:
        """Readiness: the store answers."""
        try:
            await self._store.ping()
        except StoreError:
            return web.Response(status=503, text="tenant-exporter is not ready: the store is unavailable.\n")
        return web.Response(text="tenant-exporter is Ready.\n")

    @requires("operator")
    @operation(Reloaded, errors=(400,))
    async def reload(self, request: web.Request) -> web.Response:
        """Reload every config file, on this replica and then on every other; a bad file keeps the old config
        and answers 400 with the errors (the other replicas, reading the same files, refuse them too)."""
        result = await self._config.reload()
        try:
            await self._auditing.log.record(config_reload(result, actor(request[PRINCIPAL]), context(request)))
        finally:  # the other replicas reload too, even when the audit log cannot take the event (503)
            result = await self._config.pass_on(result)
        if not result.ok:
            raise BadRequest(
                "the configuration was not reloaded; the previous version stays in use",
                slug="config-invalid", extra={"errors": list(result.errors), "config_version": result.version,
                                              "generation": result.generation},
            )
        return json_response(Reloaded(True, result.version, list(result.files), result.generation))
