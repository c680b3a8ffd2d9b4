"""Recording audit events from a request: one line per audited action in a handler.

    await auditing.record(request, "alert.acknowledge", target=Target("alert", name), details={...})

The actor (the API key: id, name, role), the tenant, the request id, the source IP and the
user agent come from the request; the call returns once the event is committed, so the
handler's 2xx follows the commit. Events about the platform pass ``tenant_id=PLATFORM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from exporter.audit.events import SUCCESS, Actor, EventDraft, Outcome, RequestContext, Target
from exporter.audit.recorder import INVALID_TOKEN, MISSING_TOKEN
from exporter.auth.keyring import PRINCIPAL, Principal
from exporter.core.errors import Unauthorized
from exporter.http import state as keys
from exporter.http.problems import REQUEST_ID
from exporter.store import AuditRecord


def context(request: web.Request) -> RequestContext:
    return RequestContext(
        request_id=request.get(REQUEST_ID, ""), source_ip=request.remote or "",
        user_agent=request.headers.get("User-Agent", ""),
    )


def actor(principal: Principal) -> Actor:
    return Actor.api_key(principal.key_id, principal.key_name, principal.role)


async def record(
    request: web.Request, action: str, *, target: Target | None = None, outcome: Outcome = SUCCESS,
    details: Mapping[str, Any] | None = None, tenant_id: str | None = None,
) -> AuditRecord:
    """Commit an audit event for ``action`` done by this request's caller; return it sealed."""
    principal = request.get(PRINCIPAL)
    who = actor(principal) if principal is not None else Actor.anonymous()
    tenant = tenant_id or (principal.tenant_id if principal is not None else None)
    if tenant is None:
        raise ValueError("an unauthenticated request's event needs an explicit tenant_id")
    draft = EventDraft(tenant, action, who, target, outcome, details or {}, context(request))
    return await request.app[keys.AUDIT].record(draft)


def login_failed(request: web.Request, error: Unauthorized) -> None:
    """Count a refused token and record a sampled ``auth.failure`` (never the token itself)."""
    reason = INVALID_TOKEN if error.slug == "invalid-token" else MISSING_TOKEN
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[keys.AUTH_FAILURES].failed(reason, context(request), {"method": request.method, "route": route})
