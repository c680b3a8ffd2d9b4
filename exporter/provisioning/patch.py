"""``PATCH /api/admin/tenants/{id}``: a JSON merge patch (RFC 7396) of a tenant's definition.

A field sent replaces the stored one (``features``, ``limits`` and ``rate_limit`` as a whole); ``null``
removes an optional one (``domain``, an override); ``disabled`` turns the tenant off and on. ``id`` may
be sent only unchanged, and ``region`` too: a tenant's data lives in its region from the start.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from exporter.core.errors import ValidationFailed
from exporter.tenancy.spec import FeatureOverride, RateLimitSpec, TenantSpec

_OPTIONAL = ("domain", "features", "limits", "soft_limits", "rate_limit")


class TenantPatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; those left out stay as they are."""

    id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    plan: str | UnsetType = UNSET
    region: str | UnsetType = UNSET
    domain: str | UnsetType | None = UNSET
    features: FeatureOverride | UnsetType | None = UNSET
    limits: dict[str, Any] | UnsetType | None = UNSET
    soft_limits: tuple[str, ...] | UnsetType | None = UNSET
    rate_limit: RateLimitSpec | UnsetType | None = UNSET
    disabled: bool | UnsetType = UNSET


def _refuse(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, slug="immutable-field", extra={"errors": [{"detail": detail,
                                                                               "pointer": f"#/{field}"}]})


def patched(spec: TenantSpec, disabled: bool, patch: TenantPatch) -> tuple[TenantSpec, bool]:
    """``spec`` and ``disabled`` with ``patch`` applied."""
    if patch.id is not UNSET and patch.id != spec.id:
        raise _refuse("id", f"a tenant's id cannot change (it is {spec.id!r})")
    if patch.region is not UNSET and patch.region != spec.region:
        raise _refuse("region", f"a tenant's region is fixed when it is created (it is {spec.region!r}): its data "
                                "lives there; create a tenant in the other region instead")
    changes: dict[str, Any] = {}
    for field in ("name", "plan", *_OPTIONAL):
        value = getattr(patch, field)
        if value is not UNSET:
            changes[field] = None if value in ({}, FeatureOverride()) else value  # empty = no override
    new = msgspec.structs.replace(spec, **changes) if changes else spec
    return new, disabled if patch.disabled is UNSET else patch.disabled


def changed_fields(before: TenantSpec, after: TenantSpec, was: bool, now: bool) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field that differs (the audit event's details)."""
    out = {field: [msgspec.to_builtins(getattr(before, field)), msgspec.to_builtins(getattr(after, field))]
           for field in before.__struct_fields__ if getattr(before, field) != getattr(after, field)}
    if was != now:
        out["disabled"] = [was, now]
    return out
