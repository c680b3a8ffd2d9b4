"""Access, the request pipeline's step before a handler marked with ``requires``: authenticate
the bearer token, admit the request under the tenant's quotas (every answer from here on
carries the RateLimit headers), then check the role.
"""

from __future__ import annotations

from aiohttp import web

from exporter.auth.keyring import Authenticator, Principal, authorize
from exporter.config import ConfigHolder
from exporter.core.errors import ProblemError, Unauthorized
from exporter.http import auditing
from exporter.monitoring.active_users import ActiveUsers
from exporter.tenancy.catalog import Tenant
from exporter.tenancy.quota import QuotaEnforcer

Admitted = tuple[Tenant, dict[str, str]]  # the caller's tenant, the RateLimit headers for the answer


class Access:
    def __init__(self, authenticator: Authenticator, quota: QuotaEnforcer, config: ConfigHolder,
                 active_users: ActiveUsers) -> None:
        self._auth = authenticator
        self._quota = quota
        self._config = config
        self._active_users = active_users

    def admit_known(self, request: web.Request, roles: frozenset[str]) -> Admitted | None:
        """``admit`` without an await, for a token verified before; None when it must go to ``admit``."""
        hit = self._auth.known(request, self._config.current.catalog)
        return None if hit is None else self._admit(hit.principal, hit.tenant, roles)

    async def admit(self, request: web.Request, roles: frozenset[str]) -> Admitted:
        """Raises the 401 (recorded as a failed login), 403, 404 or 429."""
        try:
            hit = await self._auth.authenticate(request, self._config.current.catalog)
        except Unauthorized as e:
            auditing.login_failed(request, e)
            raise
        return self._admit(hit.principal, hit.tenant, roles)

    def _admit(self, principal: Principal, tenant: Tenant, roles: frozenset[str]) -> Admitted:
        self._active_users.seen(principal.home_tenant_id, principal.key_id)
        limit_headers = self._quota.admit(tenant)
        try:
            authorize(principal, roles)
        except ProblemError as e:
            e.headers = {**limit_headers, **e.headers}
            raise
        return tenant, limit_headers
