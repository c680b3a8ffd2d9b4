"""Key self-service: ``/api/keys`` and ``/api/keys/{key_id}``, for admins (their tenant's keys) and operators
(any tenant's). Nobody manages a key whose role ranks above its own; every change is audited."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from exporter.audit.recorder import AuditLog
from exporter.auth import apikeys
from exporter.auth.keyring import KeyRing
from exporter.config import ConfigHolder
from exporter.core.clock import Clock, isoformat
from exporter.core.errors import BadRequest
from exporter.core.parsing import int_param
from exporter.http.auditing import actor, context
from exporter.http.caller import PRINCIPAL, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation, param, read_body
from exporter.http.routes.provisioning import decode_cursor, encode_cursor
from exporter.http.routes.provisioning_models import KeyCreated, KeyIn, KeyPage, key_out
from exporter.store import Store

MAX_LIMIT = 500
_PARAMS = frozenset({"tenant", "limit", "cursor", "include_revoked"})


class KeysApi:
    def __init__(self, store: Store, config: ConfigHolder, clock: Clock, keyring: KeyRing, audit: AuditLog) -> None:
        self._store, self._config, self._clock, self._keyring, self._audit = store, config, clock, keyring, audit

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/keys", self.list_keys), web.post("/api/keys", self.create_key),
                web.delete("/api/keys/{key_id}", self.revoke_key)]

    @requires("admin")
    @operation(KeyPage, errors=(400,), tags=("keys",),
               query={"tenant": param("operators: one tenant's keys (admins see their own tenant's only)"),
                      "include_revoked": param("true: revoked keys too", enum=["true", "false"]),
                      "limit": param(f"page size (at most {MAX_LIMIT}; default 100)", type="integer", minimum=1,
                                     maximum=MAX_LIMIT),
                      "cursor": param("next_cursor of the previous page (opaque)")})
    async def list_keys(self, request: web.Request) -> web.Response:
        """API keys (never their tokens): an admin's own tenant's, or any tenant's for operators."""
        query = request.query
        if unknown := set(query) - _PARAMS:
            raise BadRequest(f"unknown parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_PARAMS))}",
                             slug="invalid-parameter")
        principal = request[PRINCIPAL]
        tenant = query.get("tenant") or None
        if principal.is_operator:
            tenant = tenant or (principal.tenant_id if request.headers.get("X-Tenant-ID") else None)
        else:
            apikeys.check_grant(principal, tenant or principal.home_tenant_id, principal.role)
            tenant = principal.home_tenant_id
        if query.get("include_revoked", "false") not in ("true", "false"):
            raise BadRequest("include_revoked must be true or false", slug="invalid-parameter")
        limit = int_param(query, "limit", maximum=MAX_LIMIT) or 100
        rows = await self._store.api_keys_page(
            tenant_id=tenant, after=decode_cursor(query["cursor"]) if query.get("cursor") else None, limit=limit + 1,
            include_revoked=query.get("include_revoked") == "true")
        more = len(rows) > limit
        cursor = encode_cursor(rows[limit - 1].id) if more else None
        headers = {"Link": f'<{request.path}?{urlencode({**query, "cursor": cursor})}>; rel="next"'} if cursor else None
        return json_response(KeyPage([key_out(r) for r in rows[:limit]], more, cursor, limit), headers=headers)

    @requires("admin")
    @operation(KeyCreated, body=KeyIn, status=201, errors=(404, 503), tags=("keys",))
    async def create_key(self, request: web.Request) -> web.Response:
        """Create a key (201 with its ``token``, shown this once): ``role`` up to the caller's own.

        Admins create keys for their own tenant; operators for ``tenant`` (else the tenant they act for).
        """
        body: KeyIn = await read_body(request)
        principal = request[PRINCIPAL]
        tenant = body.tenant or principal.tenant_id
        apikeys.check_grant(principal, tenant, body.role)
        token, record = await apikeys.create_key(
            self._store, self._config.current.catalog, self._clock, tenant_id=tenant, role=body.role, name=body.name,
            actor=actor(principal), context=context(request), audit=self._audit)
        self._keyring.add(record)
        return json_response(KeyCreated(record.id, token, record.tenant_id, record.role, record.name,
                                        record.token_hint, isoformat(record.created_at)),
                             status=201, headers={"Location": f"/api/keys/{record.id}"})

    @requires("admin")
    @operation(status=204, errors=(404, 503), tags=("keys",))
    async def revoke_key(self, request: web.Request) -> web.Response:
        """Revoke a key at once (idempotent); admins only their tenant's, nobody one above its own role."""
        principal = request[PRINCIPAL]
        record = await apikeys.revoke_key(self._store, self._clock, request.match_info["key_id"],
                                          actor=actor(principal), context=context(request), audit=self._audit,
                                          by=principal)
        self._keyring.remove(record.id)
        return web.Response(status=204)
