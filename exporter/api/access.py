"""The access middleware: authenticate the bearer token, admit the request under the tenant's
quotas (every answer from here on carries the RateLimit headers), then check the role.
Public handlers (not marked with ``requires``) pass straight through.
"""

from __future__ import annotations

from aiohttp import web

from exporter import keys
from exporter.api import auditing
from exporter.auth import TENANT, Handler, authenticate, authorize, required_roles
from exporter.errors import ProblemError, Unauthorized


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    roles = required_roles(request.match_info.handler)
    if roles is None or request.method == "OPTIONS":
        return await handler(request)
    app = request.app
    catalog = app[keys.CONFIG].current.catalog
    try:
        principal = await authenticate(request, app[keys.KEYRING], catalog)
    except Unauthorized as e:
        auditing.login_failed(request, e)
        raise
    app[keys.ACTIVE_USERS].seen(principal.home_tenant_id, principal.key_id)
    limit_headers = app[keys.QUOTA].admit(request[TENANT])
    try:
        authorize(principal, roles)
        response = await handler(request)
    except ProblemError as e:
        e.headers = {**limit_headers, **e.headers}
        raise
    except web.HTTPException as e:
        e.headers.update(limit_headers)
        raise
    if not response.prepared:
        response.headers.update(limit_headers)
    return response
