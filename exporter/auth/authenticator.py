"""Bearer tokens -> the principal and tenant they act for, remembered so a token seen before costs one lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from exporter.auth.keyring import KeyRing
from exporter.auth.principal import Principal, principal_for
from exporter.core.errors import Unauthorized
from exporter.store import ApiKeyRecord
from exporter.tenancy.catalog import Catalog, Tenant

_CHALLENGE: Final = 'Bearer realm="tenant-exporter"'


def challenge(error: str | None = None) -> dict[str, str]:
    value = _CHALLENGE if error is None else f'{_CHALLENGE}, error="{error}"'
    return {"WWW-Authenticate": value}


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a token and an ``X-Tenant-ID`` resolved to, under one key record and one catalog."""

    record: ApiKeyRecord
    catalog: Catalog
    principal: Principal
    tenant: Tenant
    token: str


class Authenticator:
    """Bearer tokens -> (Principal, Tenant).

    ``known`` answers without an await for a token verified before, as long as its key is still
    in the key ring unchanged and its tenant is the same object (a reload or a change over the
    provisioning API makes a new one);
    ``authenticate`` does the whole check and remembers the answer (at most ``max_entries``).
    """

    def __init__(self, keyring: KeyRing, *, max_entries: int = 10_000) -> None:
        self._keyring = keyring
        self._resolved: dict[tuple[str, str | None], Resolved] = {}
        self._max = max_entries

    def known(self, credentials: str, requested: str | None, catalog: Catalog) -> Resolved | None:
        """What ``credentials`` (with ``X-Tenant-ID: requested``) resolved to before, if nothing changed since:
        the ``credentials`` given to ``authenticate``, or its token."""
        hit = self._resolved.get((credentials, requested))
        if (hit is None or catalog.tenants.get(hit.tenant.id) is not hit.tenant
                or self._keyring.known(hit.token) is not hit.record):
            return None
        return hit

    async def authenticate(self, token: str | None, requested: str | None, catalog: Catalog, *,
                           credentials: str | None = None) -> Resolved:
        """Check a bearer token: 401 without a valid one, 403/404 for a tenant (``requested``) it may not use.

        The answer is remembered under ``credentials`` (the ``Authorization`` header as sent, so that
        ``known`` needs no parsing), or the token."""
        if token is None:
            raise Unauthorized("an API key is required: send `Authorization: Bearer <token>`", headers=challenge())
        record = await self._keyring.lookup(token)
        if record is None:
            raise Unauthorized(
                "the API key is invalid or revoked", headers=challenge("invalid_token"), slug="invalid-token"
            )
        principal, tenant = principal_for(record, catalog, requested)
        if len(self._resolved) >= self._max:
            self._resolved.clear()
        hit = self._resolved[(credentials or token, requested)] = Resolved(record, catalog, principal, tenant, token)
        return hit
