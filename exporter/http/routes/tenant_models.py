"""Request and response bodies of the tenant API (and the source of its OpenAPI schemas).

Field names and order follow the seed's examples; fields beyond the seed are additions.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Number = int | float
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=1e15)]
# A count: a whole number; JSON writers that send 8.0 for 8 are accepted (as JSON Schema's integer does).
Count = Annotated[float, msgspec.Meta(ge=0, le=1e15, multiple_of=1)]


class RegionOut(msgspec.Struct):
    region: str
    name: str
    api_base_url: str
    jurisdiction: str


class TenantConfig(msgspec.Struct):
    id: str
    name: str
    region: str
    plan: str
    features: list[str]
    limits: dict[str, Number]
    compliance_standards: list[str]
    domain: str | None
    api_base_url: str
    data_residency: RegionOut
    config_version: str


class FeatureCheck(msgspec.Struct):
    feature: str
    enabled: bool
    known: bool
    reason: str
    source: str
    variant: str
    explanation: str
    plan: str


class FeatureDetail(msgspec.Struct):
    enabled: bool
    reason: str
    source: str
    explanation: str


class FeaturesOut(msgspec.Struct):
    features: list[str]
    plan: str
    details: dict[str, FeatureDetail]


class LimitDetail(msgspec.Struct):
    limit: Number
    unit: str
    enforcement: str
    period: str | None
    source: str


class RateLimitOut(msgspec.Struct):
    requests_per_second: float
    burst: int


class LimitsOut(msgspec.Struct):
    limits: dict[str, Number]
    plan: str
    details: dict[str, LimitDetail]
    rate_limit: RateLimitOut


class Period(msgspec.Struct):
    start: str
    end: str


class UsageDetail(msgspec.Struct):
    limit: Number
    used: Number
    balance: Number
    overage: Number
    ratio: float
    unit: str
    enforcement: str
    has_access: bool
    status: str
    thresholds_crossed: list[float]
    resets_at: str | None


class UsageOut(msgspec.Struct):
    usage: dict[str, Number]
    plan: str
    period: Period
    details: dict[str, UsageDetail]


class UsageReport(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What another service reports: any subset of the non-resetting usage figures."""

    storage_used_gb: NonNegative | None = None
    team_members_active: Count | None = None
    cases_created: Count | None = None


class Certification(msgspec.Struct):
    id: str
    name: str


class ComplianceOut(msgspec.Struct):
    tenant_id: str
    plan: str
    compliance_standards: list[str]
    certifications: list[Certification]
    data_residency: RegionOut


class RegionalEndpoint(msgspec.Struct):
    region: str
    feature_path: str
    api_base_url: str
    url: str
    jurisdiction: str
