"""The principal a token resolves to: its key, role and the tenant it acts for, and what roles may do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from exporter.core.errors import Forbidden, NotFound
from exporter.store import ApiKeyRecord
from exporter.tenancy.catalog import Catalog, Tenant

Role = Literal["viewer", "service", "admin", "operator"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
ANY_ROLE: Final = frozenset(ROLES)


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
    if tenant.disabled:
        raise Forbidden(f"tenant {tenant_id!r} is disabled", slug="tenant-disabled")
    principal = Principal(record.id, record.name, record.role, tenant_id, record.tenant_id)
    return principal, tenant


def authorize(principal: Principal, allowed: frozenset[str]) -> None:
    if principal.role not in allowed:
        raise Forbidden(
            f"role {principal.role!r} may not do this (needs one of: {', '.join(sorted(allowed))})",
            slug="insufficient-role",
        )
