"""Plans, tenants and regions: the validated, immutable Catalog every request reads.

Built from ``plans.yml``, ``tenants.yml`` and ``regions.yml`` by ``catalog_loader.load_catalog``;
nothing here does I/O. Feature answers are resolved once per catalog, in layers (plan default,
then tenant override), and each carries the ``reason`` and ``source`` that explain it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from exporter.tenancy.spec import TenantSpec

Enforcement = Literal["hard", "soft"]


@dataclass(frozen=True, slots=True)
class LimitKind:
    """One kind of limit, with the field names the seed's JSON uses for it."""

    name: str
    usage_field: str
    limit_field: str
    unit: str
    resets_monthly: bool
    integer: bool


LIMIT_KINDS: Mapping[str, LimitKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            LimitKind("api_calls_per_month", "api_calls_this_month", "api_calls_limit", "request", True, True),
            LimitKind("storage_gb", "storage_used_gb", "storage_limit_gb", "GB", False, False),
            LimitKind("team_members", "team_members_active", "team_members_limit", "member", False, True),
            LimitKind("cases", "cases_created", "cases_limit", "case", False, True),
        )
    }
)
API_CALLS = LIMIT_KINDS["api_calls_per_month"]


@dataclass(frozen=True, slots=True)
class Limit:
    kind: LimitKind
    value: float
    soft: bool

    @property
    def enforcement(self) -> Enforcement:
        return "soft" if self.soft else "hard"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``requests_per_second`` refill, ``burst`` capacity."""

    requests_per_second: float
    burst: int


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    description: str
    features: frozenset[str]
    limits: Mapping[str, Limit]
    compliance_standards: tuple[str, ...]
    rate_limit: RateLimit
    audit_retention_days: int


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    name: str
    api_base_url: str
    jurisdiction: str


Reason = Literal["STATIC", "TARGETING_MATCH", "ERROR"]
TenantSource = Literal["tenants.yml", "environment", "api"]
Source = Literal["plan", "tenant_override", "none"]


@dataclass(frozen=True, slots=True)
class FeatureDecision:
    """Why a feature is on or off for one tenant (OpenFeature reasons)."""

    feature: str
    enabled: bool
    known: bool
    reason: Reason
    source: Source
    explanation: str

    @property
    def variant(self) -> str:
        return "on" if self.enabled else "off"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    domain: str | None
    plan: Plan
    region: Region
    limits: Mapping[str, Limit]
    limit_overrides: frozenset[str]
    rate_limit: RateLimit
    decisions: Mapping[str, FeatureDecision]
    enabled_features: tuple[str, ...]
    source: TenantSource = "tenants.yml"
    version: str = ""  # changes whenever what this tenant's answers show changes (cache keys, config_version)
    disabled: bool = False  # kept in the catalog; its keys are refused (403 tenant-disabled)
    spec: TenantSpec | None = None  # as written (tenants.yml or the API), to rebuild it against new plans
    revision: int = 0  # the store's revision of an API tenant (0 for tenants.yml)

    def feature(self, name: str) -> FeatureDecision:
        found = self.decisions.get(name)
        if found is not None:
            return found
        return FeatureDecision(
            name, False, False, "ERROR", "none", f"feature {name!r} is not defined in plans.yml"
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    """Plans, regions and tenants. ``tenants`` also holds the tenants provisioned over the API: the
    tenant directory (``directory.py``) updates that mapping in place as they change."""

    version: str
    features: Mapping[str, str]
    compliance_names: Mapping[str, str]
    plans: Mapping[str, Plan]
    regions: Mapping[str, Region]
    tenants: dict[str, Tenant]  # changed in place by the tenant directory, never replaced
    files: tuple[str, ...] = field(default=())


def resolve_features(
    plan: Plan, known: Mapping[str, str], add: frozenset[str], remove: frozenset[str]
) -> dict[str, FeatureDecision]:
    """Layered resolution: the tenant override wins over the plan default."""
    decisions: dict[str, FeatureDecision] = {}
    for name in sorted(known):
        if name in remove:
            decision = FeatureDecision(
                name, False, True, "TARGETING_MATCH", "tenant_override",
                f"removed for this tenant (plan {plan.name} includes it)"
                if name in plan.features else "removed for this tenant",
            )
        elif name in add:
            decision = FeatureDecision(
                name, True, True, "TARGETING_MATCH", "tenant_override",
                f"added for this tenant (plan {plan.name} does not include it)"
                if name not in plan.features else "added for this tenant (also in the plan)",
            )
        elif name in plan.features:
            decision = FeatureDecision(name, True, True, "STATIC", "plan", f"included in plan {plan.name}")
        else:
            decision = FeatureDecision(name, False, True, "STATIC", "plan", f"not included in plan {plan.name}")
        decisions[name] = decision
    return decisions
