"""Tenant provisioning API (operators): ``/api/admin/tenants`` and ``/api/admin/tenants/{tenant_id}``."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from aiohttp import web

from exporter.core.errors import BadRequest
from exporter.core.parsing import int_param, schema_pattern, whole
from exporter.http.auditing import actor, context
from exporter.http.caller import PRINCIPAL, requires
from exporter.http.json import JSON, encode, json_response
from exporter.http.openapi import operation, param, read_body
from exporter.http.routes.provisioning_models import TenantOut, TenantPage, tenant_out
from exporter.provisioning.patch import TenantPatch
from exporter.provisioning.tenants import Idempotency, TenantAdmin
from exporter.tenancy.spec import TenantSpec

MAX_LIMIT = 500
_KEY = whole(r"[\x21-\x7e]{1,255}")  # printable ASCII, as the IETF draft's examples (a UUID is usual)
_ID_PATTERN = schema_pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # tenancy.spec.TENANT_ID
_CURSOR = whole(r"[A-Za-z0-9._-]{1,64}")  # tenant ids and key ids


def encode_cursor(last_id: str) -> str:
    """An opaque cursor: the last id of a page, base64url (keyset paging by id)."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> str:
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise BadRequest("the cursor is not one this service issued", slug="invalid-cursor") from e
    if not _CURSOR.fullmatch(decoded):
        raise BadRequest("the cursor is not one this service issued", slug="invalid-cursor")
    return decoded


def _idempotency(request: web.Request) -> Idempotency | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not _KEY.fullmatch(raw):
        raise BadRequest("Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID, say)",
                         slug="invalid-idempotency-key")
    return Idempotency(request[PRINCIPAL].key_id, raw)


class TenantsAdminApi:
    def __init__(self, admin: TenantAdmin) -> None:
        self._admin = admin

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/admin/tenants", self.create_tenant),
                web.get("/api/admin/tenants", self.list_tenants),
                web.get("/api/admin/tenants/{tenant_id}", self.get_tenant),
                web.patch("/api/admin/tenants/{tenant_id}", self.patch_tenant),
                web.delete("/api/admin/tenants/{tenant_id}", self.delete_tenant)]

    @requires("operator")
    @operation(TenantOut, body=TenantSpec, status=201, errors=(400, 409, 503), tags=("admin",),
               headers={"Idempotency-Key": "a key of the client's choosing: a retry with the same key and body "
                                           "answers the first 201 again (`Idempotent-Replayed: true`)"})
    async def create_tenant(self, request: web.Request) -> web.Response:
        """Create a tenant (plan, region, overrides checked as in tenants.yml); audited; seen by every replica.

        409 when the id is taken (by tenants.yml, a tenant, or a deleted one: ids are never reused);
        422 for a plan, region, feature or limit that does not exist, or an ``Idempotency-Key`` already
        used with another body.
        """
        spec: TenantSpec = await read_body(request)
        created = await self._admin.create(spec, actor(request[PRINCIPAL]), context(request), _idempotency(request),
                                           lambda v: encode(tenant_out(v)))
        headers = {"Location": f"/api/admin/tenants/{created.tenant_id}"}
        if created.replayed:
            headers["Idempotent-Replayed"] = "true"
        return web.Response(body=created.body.encode(), status=created.status, content_type=JSON, headers=headers)

    @requires("operator")
    @operation(TenantPage, errors=(400,), tags=("admin",),
               query={"limit": param(f"page size (at most {MAX_LIMIT}; default 100)", type="integer", minimum=1,
                                     maximum=MAX_LIMIT),
                      "cursor": param("next_cursor of the previous page (opaque)")})
    async def list_tenants(self, request: web.Request) -> web.Response:
        """Every tenant in id order, those of tenants.yml included (``read_only``, with their ``source``)."""
        unknown = set(request.query) - {"limit", "cursor"}
        if unknown:
            raise BadRequest(f"unknown parameter(s) {', '.join(sorted(unknown))}; known: cursor, limit",
                             slug="invalid-parameter")
        limit = int_param(request.query, "limit", maximum=MAX_LIMIT) or 100
        raw = request.query.get("cursor")
        views, more = await self._admin.page(decode_cursor(raw) if raw else None, limit)
        cursor = encode_cursor(views[-1].spec.id) if more and views else None
        headers = {"Link": f'<{request.path}?{urlencode({"limit": limit, "cursor": cursor})}>; rel="next"'} \
            if cursor else None
        return json_response(TenantPage([tenant_out(v) for v in views], more, cursor, limit), headers=headers)

    @requires("operator")
    @operation(TenantOut, errors=(404,), tags=("admin",), path_patterns={"tenant_id": _ID_PATTERN})
    async def get_tenant(self, request: web.Request) -> web.Response:
        """One tenant's definition, wherever it is defined."""
        return json_response(tenant_out(await self._admin.get(request.match_info["tenant_id"])))

    @requires("operator")
    @operation(TenantOut, body=TenantPatch, errors=(404, 409, 503), tags=("admin",),
               path_patterns={"tenant_id": _ID_PATTERN})
    async def patch_tenant(self, request: web.Request) -> web.Response:
        """Change a tenant (JSON merge patch); ``{"disabled": true}`` disables it (its keys get 403).

        Fields sent replace the stored ones, ``null`` removes an override; the region is fixed (422);
        tenants of tenants.yml are read-only here (409). Audited as ``tenant.update`` (or
        ``tenant.disable`` / ``tenant.enable``).
        """
        patch: TenantPatch = await read_body(request)
        updated = await self._admin.update(request.match_info["tenant_id"], patch, actor(request[PRINCIPAL]),
                                           context(request))
        return json_response(tenant_out(updated))

    @requires("operator")
    @operation(status=204, errors=(404, 409, 503), tags=("admin",), path_patterns={"tenant_id": _ID_PATTERN})
    async def delete_tenant(self, request: web.Request) -> web.Response:
        """Delete a tenant: its keys are revoked, its id is never reused, its audit log is kept (verifiable)."""
        await self._admin.delete(request.match_info["tenant_id"], actor(request[PRINCIPAL]), context(request))
        return web.Response(status=204)
