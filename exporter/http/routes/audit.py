"""Audit-log API: ``/api/audit-logs/`` (list), ``search``, ``export`` (streamed), ``verify``.

Admins read their own tenant's log when its plan has the ``audit_log`` feature; operators read
every tenant's (and the platform's), or one chosen with ``tenant=`` or ``X-Tenant-ID``.
Viewers and services get 403.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Container
from urllib.parse import urlencode

from aiohttp import web

from exporter.audit import chain as audit_chain
from exporter.audit import export as audit_export
from exporter.audit import query as audit_query
from exporter.audit.events import PLATFORM
from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.core.pacing import Pacer
from exporter.http.auditing import Auditing
from exporter.http.caller import PRINCIPAL, TENANT, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation, param
from exporter.http.pipeline import client_gone
from exporter.http.routes.audit_models import AuditPage, VerifyOut, chain_out
from exporter.store import Store

log = logging.getLogger(__name__)

_TIME = {"type": "string", "format": "date-time"}
_FILTERS = {
    "tenant": param("operators: one tenant's events (else all)"),
    "actor": param("key id or name of the actor"),
    "action": param("action, or a prefix ending in '.' (e.g. api_key.)"),
    "target": param("target id"),
    "outcome": param("success or failure", enum=list(audit_query.OUTCOMES)),
    "since": param("RFC 3339 time (or Unix seconds), inclusive", **_TIME),
    "until": param("RFC 3339 time (or Unix seconds), exclusive; a range that ends before it starts is empty",
                   **_TIME),
    "q": param(f"text in the details or the target name (a substring, any case; at least "
               f"{audit_query.MIN_TEXT_CHARS} characters)", type="string", minLength=audit_query.MIN_TEXT_CHARS),
    "request_id": param("the X-Request-ID of the change"),
}
_SIZE = {"type": "integer", "minimum": 1, "maximum": audit_query.MAX_SIZE_PARAM}
_PAGING = {
    "limit": param(f"page size (at most {audit_query.MAX_LIMIT} are returned)", **_SIZE),
    "cursor": param("next_cursor of the previous page (opaque)"),
    "page": param("the seed's page number (1-based)", type="integer", minimum=1,
                  maximum=audit_query.MAX_PAGE_NUMBER),
    "page_size": param(f"the seed's page size (at most {audit_query.MAX_LIMIT})", **_SIZE),
}

_LIST_QUERY = {k: v for k, v in (_FILTERS | _PAGING).items() if k in ("tenant", *_PAGING)}


async def _reporting_failure(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The export's body; if reading fails once the answer has begun (the store went away, or a
    bug), the status (200) is gone, so the connection is cut before the last chunk and the client
    sees an incomplete transfer. The log says how far it got."""
    sent = 0
    try:
        async for chunk in chunks:
            sent += len(chunk)
            yield chunk
    except Exception as e:  # re-raised: aiohttp cuts the connection
        level = logging.WARNING if isinstance(e, StoreError) else logging.ERROR
        log.log(level, "audit export aborted after %d bytes (the client sees a cut transfer): %s: %s",
                sent, type(e).__name__, e)
        raise


class AuditApi:
    def __init__(self, store: Store, tenants: Container[str], clock: Clock, auditing: Auditing,
                 checkpoint_key: bytes | None) -> None:
        """``tenants``: the tenants whose logs may be named (deleted ones included: their chains are kept)."""
        self._store = store
        self._known = tenants
        self._clock = clock
        self._auditing = auditing
        self._checkpoint_key = checkpoint_key

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/audit-logs/", self.list_events),
                web.get("/api/audit-logs", self.list_events_unslashed),
                web.get("/api/audit-logs/search", self.search_events),
                web.get("/api/audit-logs/export", self.export_events),
                web.get("/api/audit-logs/verify", self.verify)]

    def _tenants(self, request: web.Request) -> tuple[str, ...] | None:
        return audit_query.scope(
            request[PRINCIPAL], request.query.get("tenant"), request.headers.get("X-Tenant-ID"),
            plan_has_audit_log=request[TENANT].feature(audit_query.AUDIT_LOG_FEATURE).enabled,
            known=self._known,
        )

    async def _page(self, request: web.Request) -> web.Response:
        flt = audit_query.parse_filter(request.query, self._tenants(request))
        wanted = audit_query.parse_page(request.query)
        page = await audit_query.read_page(self._store, flt, wanted)
        body = AuditPage(
            data=[audit_export.view(r) for r in page.records], has_more=page.has_more, next_cursor=page.next_cursor,
            limit=wanted.limit, page=wanted.page, page_size=wanted.limit if wanted.page is not None else None,
            total=page.total,
        )
        headers = {}
        if page.next_cursor is not None:
            query = {k: v for k, v in request.query.items() if k not in audit_query.PAGE_PARAMS}
            query |= {"limit": str(wanted.limit), "cursor": page.next_cursor}
            headers["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
        return json_response(body, headers=headers)

    @requires("admin")
    @operation(AuditPage, query=_LIST_QUERY, errors=(400, 404), tags=("audit",))
    async def list_events(self, request: web.Request) -> web.Response:
        """Audit events, newest first: ``limit`` + ``cursor`` (or the seed's ``page`` + ``page_size``)."""
        return await self._page(request)

    @requires("admin")
    @operation(AuditPage, query=_LIST_QUERY, errors=(400, 404), tags=("audit",))
    async def list_events_unslashed(self, request: web.Request) -> web.Response:
        """The same list as ``GET /api/audit-logs/``, without the trailing slash.

        An operation of its own (with its own operationId), so a generated client has both paths.
        """
        return await self._page(request)

    @requires("admin")
    @operation(AuditPage, query=_FILTERS | _PAGING, errors=(400, 404), tags=("audit",))
    async def search_events(self, request: web.Request) -> web.Response:
        """Events matching actor, action (prefix), target, outcome, since/until, request_id and ``q``."""
        return await self._page(request)

    @requires("admin")
    @operation(content_type=", ".join(audit_export.FORMATS.values()),
               query={"format": param("csv or jsonl (default)", enum=list(audit_export.FORMATS)), **_FILTERS},
               errors=(400, 404), tags=("audit",))
    async def export_events(self, request: web.Request) -> web.Response:
        """The matching events as CSV or JSON Lines, oldest first, streamed in constant memory.

        The body is an async iterator (sent chunked as it is read from the store), not a response
        prepared here, so the request pipeline still adds CORS, RateLimit and X-Request-ID headers.
        """
        fmt = audit_export.parse_format(request.query.get("format", "jsonl"))
        tenants = self._tenants(request)
        flt = audit_query.parse_filter(request.query, tenants, allowed=(*audit_query.FILTER_PARAMS, "format"))
        filters = {k: v for k, v in request.query.items() if k in audit_query.FILTER_PARAMS}
        await self._auditing.record(request, "audit_log.export", details={"format": fmt, "filters": filters},
                              tenant_id=tenants[0] if tenants and len(tenants) == 1 else PLATFORM)
        name = audit_export.filename(tenants, fmt, self._clock.now())
        body = _reporting_failure(audit_export.stream(self._store, flt, fmt, pacer=Pacer()))
        return web.Response(body=body, headers={
            "Content-Type": audit_export.FORMATS[fmt],
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        })

    @requires("admin")
    @operation(VerifyOut, query={"tenant": _FILTERS["tenant"]}, errors=(400, 404), tags=("audit",))
    async def verify(self, request: web.Request) -> web.Response:
        """Walk the hash chain(s) in scope; name the first broken row of each."""
        audit_query.check_params(request.query, ("tenant",))
        results = await audit_chain.verify_tenants(
            self._store, self._tenants(request), key=self._checkpoint_key,
            pacer=Pacer(abandoned=lambda: client_gone(request)),  # a long chain is not walked for nobody
        )
        return json_response(VerifyOut(all(v.ok for v in results), [chain_out(v) for v in results]))
