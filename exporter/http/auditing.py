"""Recording audit events from a request: one line per audited action in a handler.

    await self._auditing.record(request, "alert.acknowledge", target=Target("alert", name), details={...})

The actor (the API key: id, name, role), the tenant, the request id, the source IP and the
user agent come from the request; the call returns once the event is committed, so the
handler's 2xx follows the commit. Events about the platform pass ``tenant_id=PLATFORM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from exporter.audit.events import SUCCESS, Actor, EventDraft, Outcome, RequestContext, Target
from exporter.audit.recorder import INVALID_TOKEN, MISSING_TOKEN, AuditLog, AuthFailureSampler
from exporter.auth.principal import Principal
from exporter.core.errors import Unauthorized
from exporter.http.caller import PRINCIPAL
from exporter.http.problems import REQUEST_ID
from exporter.store import AuditRecord


def context(request: web.Request) -> RequestContext:
    return RequestContext(
        request_id=request.get(REQUEST_ID, ""), source_ip=request.remote or "",
        user_agent=request.headers.get("User-Agent", ""),
    )


def actor(principal: Principal) -> Actor:
    return Actor.api_key(principal.key_id, principal.key_name, principal.role)


class Auditing:
    """The audit log as handlers use it: events drafted from the request that caused them."""

    def __init__(self, log: AuditLog, failures: AuthFailureSampler) -> None:
        self.log = log
        self._failures = failures

    async def record(
        self, request: web.Request, action: str, *, target: Target | None = None, outcome: Outcome = SUCCESS,
        details: Mapping[str, Any] | None = None, tenant_id: str | None = None,
    ) -> AuditRecord:
        """Commit an audit event for ``action`` done by this request's caller; return it sealed."""
        principal = request.get(PRINCIPAL)
        who = actor(principal) if principal is not None else Actor.anonymous()
        tenant = tenant_id or (principal.tenant_id if principal is not None else None)
        if tenant is None:
            raise ValueError("an unauthenticated request's event needs an explicit tenant_id")
        draft = EventDraft(tenant, action, who, target, outcome, details or {}, context(request))
        return await self.log.record(draft)

    def login_failed(self, request: web.Request, error: Unauthorized) -> None:
        """Count a refused token and record a sampled ``auth.failure`` (never the token itself)."""
        reason = INVALID_TOKEN if error.slug == "invalid-token" else MISSING_TOKEN
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        self._failures.failed(reason, context(request), {"method": request.method, "route": route})
