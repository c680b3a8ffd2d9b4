"""Bodies of the provisioning API (``/api/admin/tenants``, ``/api/keys``), and the source of their schemas.

Requests are decoded with the domain's own models (``tenancy.spec.TenantSpec``,
``provisioning.patch.TenantPatch``); these are the answers.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from exporter.auth.principal import Role
from exporter.core.clock import isoformat
from exporter.provisioning.tenants import TenantView
from exporter.store import ApiKeyRecord
from exporter.tenancy.spec import Id


class FeatureOverrideOut(msgspec.Struct):
    add: list[str]
    remove: list[str]


class RateLimitIn(msgspec.Struct):
    requests_per_second: float
    burst: int | None


class TenantOut(msgspec.Struct):
    """A tenant's definition (overrides as written; ``/api/tenant/config`` shows what they resolve to)."""

    id: str
    name: str
    plan: str
    region: str
    domain: str | None
    features: FeatureOverrideOut
    limits: dict[str, Any]
    soft_limits: list[str] | None
    rate_limit: RateLimitIn | None
    disabled: bool
    source: str  # "api", or "tenants.yml" / "environment" (then read_only)
    read_only: bool
    created_at: str | None
    updated_at: str | None
    revision: int | None


class TenantPage(msgspec.Struct):
    data: list[TenantOut]
    has_more: bool
    next_cursor: str | None
    limit: int


def tenant_out(v: TenantView) -> TenantOut:
    spec = v.spec
    features = spec.features
    rate = spec.rate_limit
    return TenantOut(
        id=spec.id, name=spec.name, plan=spec.plan, region=spec.region, domain=spec.domain,
        features=FeatureOverrideOut(list(features.add), list(features.remove)) if features
        else FeatureOverrideOut([], []),
        limits=dict(spec.limits or {}), soft_limits=list(spec.soft_limits) if spec.soft_limits is not None else None,
        rate_limit=RateLimitIn(rate.requests_per_second, rate.burst) if rate else None, disabled=v.disabled,
        source=v.source, read_only=v.source != "api",
        created_at=isoformat(v.created_at) if v.created_at is not None else None,
        updated_at=isoformat(v.updated_at) if v.updated_at is not None else None,
        revision=v.revision if v.source == "api" else None,
    )


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A key to create: its role, a name, and (operators only) the tenant it belongs to."""

    role: Role
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    tenant: Id | None = None


class KeyOut(msgspec.Struct):
    id: str
    tenant: str
    role: str
    name: str
    token_hint: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(msgspec.Struct):
    """The new key; ``token`` is shown this once and never again (only its SHA-256 is stored)."""

    id: str
    token: str
    tenant: str
    role: str
    name: str
    token_hint: str
    created_at: str


class KeyPage(msgspec.Struct):
    data: list[KeyOut]
    has_more: bool
    next_cursor: str | None
    limit: int


def key_out(r: ApiKeyRecord) -> KeyOut:
    return KeyOut(r.id, r.tenant_id, r.role, r.name, r.token_hint, isoformat(r.created_at),
                  isoformat(r.last_used_at) if r.last_used_at else None,
                  isoformat(r.revoked_at) if r.revoked_at else None)
