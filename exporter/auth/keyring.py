"""Bearer API keys -> Principal(tenant, role): the ``Authenticator`` the request pipeline asks,
``requires()`` for handlers.

Active keys live in memory (``KeyRing``), indexed by SHA-256 of the token, and are refreshed
from the store in the background, so checking a token costs one hash and a dict lookup. A
well-formed token that is not in memory (a key just made by ``keys create`` in another
process) is looked up once in the store, single-flight, with a bounded negative cache. A token
already checked resolves, with the tenant it acts for, in one more dict lookup (``Authenticator``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar, get_args

from aiohttp import web

from exporter.auth import tokens
from exporter.core.clock import Clock
from exporter.core.errors import Forbidden, NotFound, Unauthorized
from exporter.store import ApiKeyRecord, Store
from exporter.tenancy.catalog import Catalog, Tenant

log = logging.getLogger(__name__)

Role = Literal["viewer", "service", "admin", "operator"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
ANY_ROLE: Final = frozenset(ROLES)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
_ROLES_ATTR = "__tenant_exporter_roles__"
_CHALLENGE = 'Bearer realm="tenant-exporter"'


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its role, and the tenant it acts for."""

    key_id: str
    key_name: str
    role: str
    tenant_id: str
    home_tenant_id: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


PRINCIPAL: Final = web.RequestKey("principal", Principal)
TENANT: Final = web.RequestKey("tenant", Tenant)


def requires(*roles: str) -> Callable[[H], H]:
    """Mark a handler as needing a token with one of ``roles`` (operators always pass)."""
    allowed = frozenset(roles) | {"operator"} if roles else ANY_ROLE
    unknown = allowed - ANY_ROLE
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def mark(handler: H) -> H:
        setattr(handler, _ROLES_ATTR, allowed)
        return handler

    return mark


def required_roles(handler: object) -> frozenset[str] | None:
    """The roles a handler was marked with, or None for a public handler."""
    roles = getattr(handler, _ROLES_ATTR, None)
    return roles if isinstance(roles, frozenset) else None


class KeyRing:
    """The active API keys, by token hash."""

    def __init__(self, store: Store, clock: Clock, *, negative_cache: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._by_token: dict[str, ApiKeyRecord] = {}
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._negative_cache = negative_cache
        self._miss_lock = asyncio.Lock()
        self._used: set[str] = set()  # key ids used since the last flush (stamped at flush time)
        self.refreshed_at = 0.0

    async def refresh(self) -> None:
        records = await self._store.active_api_keys()
        self._by_hash = {r.token_hash: r for r in records}
        self._by_token = {}
        self._misses.clear()
        self.refreshed_at = self._clock.monotonic()

    def add(self, record: ApiKeyRecord) -> None:
        self._by_hash[record.token_hash] = record
        self._misses.pop(record.token_hash, None)

    def remove(self, key_id: str) -> None:
        self._by_hash = {h: r for h, r in self._by_hash.items() if r.id != key_id}
        self._by_token = {t: r for t, r in self._by_token.items() if r.id != key_id}

    def known(self, token: str) -> ApiKeyRecord | None:
        """The key of a token already verified since the last refresh (and still active), else None.

        A dict compares a key's string only after its (randomised) hash matched, so this leaks no
        timing an attacker could use; the first check of every token goes through the digest.
        """
        record = self._by_token.get(token)
        if record is not None:
            self._used.add(record.id)
        return record

    async def lookup(self, token: str) -> ApiKeyRecord | None:
        record = self.known(token)
        if record is not None:
            return record
        if not tokens.well_formed(token):
            return None
        digest = tokens.token_hash(token)
        record = self._by_hash.get(digest) or await self._lookup_miss(digest)
        if record is None or not hmac.compare_digest(record.token_hash, digest):
            return None
        if len(self._by_token) < self._negative_cache:
            self._by_token[token] = record
        self._used.add(record.id)
        return record

    async def _lookup_miss(self, digest: str) -> ApiKeyRecord | None:
        if digest in self._misses:
            return None
        async with self._miss_lock:  # one store lookup at a time, however many bad tokens arrive
            if digest in self._by_hash:
                return self._by_hash[digest]
            if digest in self._misses:
                return None
            found = await self._store.find_api_key(digest)
            if found is None:
                self._misses[digest] = self._clock.monotonic()
                while len(self._misses) > self._negative_cache:
                    self._misses.popitem(last=False)
                return None
            self.add(found)
            return found

    def take_last_used(self) -> dict[str, float]:
        """``{key id: now}`` for the keys used since the last call (last-used is flush-accurate)."""
        used, self._used = self._used, set()
        now = self._clock.now()
        return dict.fromkeys(used, now)


def principal_for(record: ApiKeyRecord, catalog: Catalog, requested_tenant: str | None) -> tuple[Principal, Tenant]:
    """Decide which tenant a key acts for. Only operators may pick one with ``X-Tenant-ID``."""
    tenant_id = record.tenant_id
    if requested_tenant and requested_tenant != record.tenant_id:
        if record.role != "operator":
            raise Forbidden(f"this key belongs to tenant {record.tenant_id!r}; X-Tenant-ID cannot change that")
        tenant_id = requested_tenant
    tenant = catalog.tenants.get(tenant_id)
    if tenant is None:
        if tenant_id != record.tenant_id:
            raise NotFound(f"unknown tenant {tenant_id!r}", slug="unknown-tenant")
        raise Forbidden(f"tenant {tenant_id!r} of this key is not in the catalog", slug="unknown-tenant")
    principal = Principal(record.id, record.name, record.role, tenant_id, record.tenant_id)
    return principal, tenant


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


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


class Authenticator:
    """Bearer tokens -> (Principal, Tenant), stored on the request.

    ``known`` answers without an await for a token verified before, as long as its key is still
    in the key ring unchanged and the catalog is the same object (a reload makes a new one);
    ``authenticate`` does the whole check and remembers the answer (at most ``max_entries``).
    """

    def __init__(self, keyring: KeyRing, *, max_entries: int = 10_000) -> None:
        self._keyring = keyring
        self._resolved: dict[tuple[str, str | None], Resolved] = {}
        self._max = max_entries

    def known(self, request: web.Request, catalog: Catalog) -> Resolved | None:
        token = bearer_token(request)
        if token is None:
            return None
        hit = self._resolved.get((token, request.headers.get("X-Tenant-ID")))
        if hit is None or hit.catalog is not catalog or self._keyring.known(token) is not hit.record:
            return None
        request[PRINCIPAL] = hit.principal
        request[TENANT] = hit.tenant
        return hit

    async def authenticate(self, request: web.Request, catalog: Catalog) -> Resolved:
        """Check the bearer token of ``request``: 401 without a valid one, 403/404 for a tenant it may not use."""
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("an API key is required: send `Authorization: Bearer <token>`", headers=challenge())
        record = await self._keyring.lookup(token)
        if record is None:
            raise Unauthorized(
                "the API key is invalid or revoked", headers=challenge("invalid_token"), slug="invalid-token"
            )
        requested = request.headers.get("X-Tenant-ID")
        principal, tenant = principal_for(record, catalog, requested)
        request[PRINCIPAL] = principal
        request[TENANT] = tenant
        if len(self._resolved) >= self._max:
            self._resolved.clear()
        hit = self._resolved[(token, requested)] = Resolved(record, catalog, principal, tenant)
        return hit


def authorize(principal: Principal, allowed: frozenset[str]) -> None:
    if principal.role not in allowed:
        raise Forbidden(
            f"role {principal.role!r} may not do this (needs one of: {', '.join(sorted(allowed))})",
            slug="insufficient-role",
        )
