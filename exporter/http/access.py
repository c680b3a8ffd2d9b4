"""Access, the request pipeline's step before a handler marked with ``requires``: authenticate
the bearer token, admit the request under the tenant's quotas (every answer from here on
carries the RateLimit headers), then check the role.
"""

from __future__ import annotations

from aiohttp import web

from exporter.auth.authenticator import Authenticator, Resolved
from exporter.auth.principal import authorize
from exporter.config import ConfigHolder
from exporter.core.errors import ProblemError, Unauthorized
from exporter.http.auditing import Auditing
from exporter.http.caller import PRINCIPAL, TENANT, bearer_token
from exporter.monitoring.active_users import ActiveUsers
from exporter.tenancy.catalog import Tenant
from exporter.tenancy.quota import QuotaEnforcer, header_fields

Admitted = tuple[Tenant, str]  # the caller's tenant, the RateLimit header lines for the answer (``header_fields``)


class Access:
    def __init__(self, authenticator: Authenticator, quota: QuotaEnforcer, config: ConfigHolder,
                 active_users: ActiveUsers, auditing: Auditing) -> None:
        self._auth = authenticator
        self._quota = quota
        self._config = config
        self._active_users = active_users
        self._auditing = auditing

    def admit_known(self, request: web.Request, roles: frozenset[str]) -> Admitted | None:
        """``admit`` without an await, for a token verified before; None when it must go to ``admit``."""
        headers = request.headers
        credentials = headers.get("Authorization")
        if credentials is None:
            return None
        hit = self._auth.known(credentials, headers.get("X-Tenant-ID"), self._config.current.catalog)
        return None if hit is None else self._admit(request, hit, roles)

    async def admit(self, request: web.Request, roles: frozenset[str]) -> Admitted:
        """Raises the 401 (recorded as a failed login), 403, 404 or 429."""
        headers = request.headers
        try:
            hit = await self._auth.authenticate(bearer_token(request), headers.get("X-Tenant-ID"),
                                                self._config.current.catalog, credentials=headers.get("Authorization"))
        except Unauthorized as e:
            self._auditing.login_failed(request, e)
            raise
        return self._admit(request, hit, roles)

    def _admit(self, request: web.Request, hit: Resolved, roles: frozenset[str]) -> Admitted:
        principal, tenant = hit.principal, hit.tenant
        request[PRINCIPAL] = principal
        request[TENANT] = tenant
        self._active_users.seen(principal.home_tenant_id, principal.key_id)
        limit_lines = self._quota.admit_lines(tenant)
        if principal.role not in roles:
            try:
                authorize(principal, roles)
            except ProblemError as e:
                e.headers = {**header_fields(limit_lines), **e.headers}
                raise
        return tenant, limit_lines
