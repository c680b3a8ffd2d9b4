"""Who is calling: the bearer token of a request, the principal and tenant the access step puts on
it (``PRINCIPAL``, ``TENANT``), and ``requires``, which marks a handler with the roles it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from aiohttp import web

from exporter.auth.principal import ANY_ROLE, Principal
from exporter.tenancy.catalog import Tenant

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])  # a handler, or a method that is one
PRINCIPAL: Final = web.RequestKey("principal", Principal)
TENANT: Final = web.RequestKey("tenant", Tenant)
_ROLES_ATTR: Final = "__tenant_exporter_roles__"


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


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
