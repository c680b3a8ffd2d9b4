"""plans.yml + tenants.yml + regions.yml -> Catalog, or a ConfigError naming file, line and field."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from exporter.core.errors import ConfigError, ConfigIssue
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc, load_yaml, raise_if_issues
from exporter.settings import DefaultTenant
from exporter.tenancy.catalog import (
    LIMIT_KINDS,
    Catalog,
    Limit,
    Plan,
    RateLimit,
    Region,
    Tenant,
    resolve_features,
)

SUPPORTED_VERSION = 1
_ID = whole(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL = whole(r"https?://[^\s/?#]+(/[^\s?#]*)?")


class _RateLimitSpec(msgspec.Struct, forbid_unknown_fields=True):
    requests_per_second: float
    burst: int | None = None


class _PlanSpec(msgspec.Struct, forbid_unknown_fields=True):
    rate_limit: _RateLimitSpec
    limits: dict[str, Any]
    features: list[str] = []
    soft_limits: list[str] = []
    compliance_standards: list[str] = []
    audit_retention_days: int = 90
    description: str = ""


class _FeatureOverride(msgspec.Struct, forbid_unknown_fields=True):
    add: list[str] = []
    remove: list[str] = []


class _TenantSpec(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    plan: str
    region: str
    domain: str | None = None
    features: _FeatureOverride = msgspec.field(default_factory=_FeatureOverride)
    limits: dict[str, Any] = {}
    soft_limits: list[str] | None = None
    rate_limit: _RateLimitSpec | None = None


class _RegionSpec(msgspec.Struct, forbid_unknown_fields=True):
    api_base_url: str
    name: str = ""
    jurisdiction: str = ""


def load_catalog(config_dir: Path, default_tenant: DefaultTenant) -> Catalog:
    """Read and validate the three catalog files in ``config_dir``."""
    paths = [config_dir / name for name in ("plans.yml", "regions.yml", "tenants.yml")]
    docs: list[YamlDoc] = []
    errors: list[ConfigIssue] = []
    for path in paths:
        try:
            docs.append(load_yaml(path))
        except ConfigError as e:
            errors.extend(e.issues)
    if errors:
        raise ConfigError(errors)
    plans_doc, regions_doc, tenants_doc = docs
    for doc, keys in ((plans_doc, ("version", "features", "compliance_standards", "plans")),
                      (regions_doc, ("version", "regions")), (tenants_doc, ("version", "tenants"))):
        _check_top(doc, keys)
    raise_if_issues(*docs)

    features = _names(plans_doc, ("features",))
    compliance = _names(plans_doc, ("compliance_standards",))
    regions = _regions(regions_doc)
    plans = _plans(plans_doc, features, compliance)
    raise_if_issues(*docs)
    tenants = _tenants(tenants_doc, plans, regions, features, default_tenant)
    raise_if_issues(*docs)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths))
    digest.update(repr(default_tenant).encode() if not tenants_doc.get(("tenants",)) else b"")
    return Catalog(
        version=digest.hexdigest()[:16],
        features=MappingProxyType(features),
        compliance_names=MappingProxyType(compliance),
        plans=MappingProxyType(plans),
        regions=MappingProxyType(regions),
        tenants=MappingProxyType(tenants),
        files=tuple(str(p) for p in paths),
    )


def _check_top(doc: YamlDoc, allowed: tuple[str, ...]) -> None:
    if not isinstance(doc.data, dict):
        doc.issue((), "the file must hold a mapping with a `version:` key")
        return
    for key in doc.data:
        if key not in allowed:
            doc.issue((key,), f"unknown top-level key (allowed: {', '.join(allowed)})")
    version = doc.data.get("version")
    if version != SUPPORTED_VERSION:
        doc.issue(("version",), f"must be {SUPPORTED_VERSION} (got {version!r})")


def _names(doc: YamlDoc, path: PathT) -> dict[str, str]:
    """A ``name: description`` mapping of identifiers."""
    out: dict[str, str] = {}
    for key, value, where in doc.mapping_items(path):
        if not _ID.fullmatch(key):
            doc.issue(where, "names use letters, digits, '.', '_' and '-' only")
        out[key] = str(value) if value is not None else key
    if not out:
        doc.issue(path, "at least one entry is required")
    return out


def _regions(doc: YamlDoc) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for key, value, where in doc.mapping_items(("regions",)):
        spec = doc.convert(value, _RegionSpec, where)
        if spec is None:
            continue
        if not _URL.fullmatch(spec.api_base_url):
            doc.issue((*where, "api_base_url"), "must be an absolute http(s) URL without query or fragment")
        regions[key] = Region(key, spec.name or key, spec.api_base_url.rstrip("/"), spec.jurisdiction)
    if not regions:
        doc.issue(("regions",), "at least one region is required")
    return regions


def _plans(doc: YamlDoc, features: dict[str, str], compliance: dict[str, str]) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for name, value, where in doc.mapping_items(("plans",)):
        spec = doc.convert(value, _PlanSpec, where)
        if spec is None:
            continue
        _known(doc, (*where, "features"), spec.features, features, "feature")
        _known(doc, (*where, "compliance_standards"), spec.compliance_standards, compliance, "compliance standard")
        limits = _limits(doc, (*where, "limits"), spec.limits, set(spec.soft_limits), required=True)
        _known(doc, (*where, "soft_limits"), spec.soft_limits, LIMIT_KINDS, "limit")
        if spec.audit_retention_days < 0:
            doc.issue((*where, "audit_retention_days"), "must not be negative")
        plans[name] = Plan(
            name=name,
            description=spec.description,
            features=frozenset(spec.features),
            limits=MappingProxyType(limits),
            compliance_standards=tuple(spec.compliance_standards),
            rate_limit=_rate(doc, (*where, "rate_limit"), spec.rate_limit),
            audit_retention_days=spec.audit_retention_days,
        )
    if not plans:
        doc.issue(("plans",), "at least one plan is required")
    return plans


def _tenants(
    doc: YamlDoc,
    plans: dict[str, Plan],
    regions: dict[str, Region],
    features: dict[str, str],
    default: DefaultTenant,
) -> dict[str, Tenant]:
    raw = doc.get(("tenants",))
    if raw is None or raw == []:
        return {default.id: _default_tenant(default, plans, regions, features)}
    if not isinstance(raw, list):
        doc.issue(("tenants",), "must be a list of tenants")
        return {}
    tenants: dict[str, Tenant] = {}
    for index, value in enumerate(raw):
        where: PathT = ("tenants", index)
        spec = doc.convert(value, _TenantSpec, where)
        if spec is None:
            continue
        if not _ID.fullmatch(spec.id):
            doc.issue((*where, "id"), "ids use letters, digits, '.', '_' and '-' (at most 64)")
        if spec.id in tenants:
            doc.issue((*where, "id"), f"duplicate tenant id {spec.id!r}")
        plan = plans.get(spec.plan)
        if plan is None:
            doc.issue((*where, "plan"), f"unknown plan {spec.plan!r} (known: {', '.join(sorted(plans))})")
        region = regions.get(spec.region)
        if region is None:
            doc.issue((*where, "region"), f"unknown region {spec.region!r} (known: {', '.join(sorted(regions))})")
        _known(doc, (*where, "features", "add"), spec.features.add, features, "feature")
        _known(doc, (*where, "features", "remove"), spec.features.remove, features, "feature")
        both = set(spec.features.add) & set(spec.features.remove)
        if both:
            doc.issue((*where, "features"), f"both added and removed: {', '.join(sorted(both))}")
        if plan is None or region is None:
            continue
        soft = set(spec.soft_limits) if spec.soft_limits is not None else {
            name for name, limit in plan.limits.items() if limit.soft
        }
        if spec.soft_limits is not None:
            _known(doc, (*where, "soft_limits"), spec.soft_limits, LIMIT_KINDS, "limit")
        overrides = _limits(doc, (*where, "limits"), spec.limits, soft, required=False)
        limits = {name: Limit(lim.kind, lim.value, name in soft) for name, lim in plan.limits.items()}
        limits.update(overrides)
        rate = _rate(doc, (*where, "rate_limit"), spec.rate_limit) if spec.rate_limit else plan.rate_limit
        tenants[spec.id] = _tenant(
            spec.id, spec.name, spec.domain, plan, region, features, limits, frozenset(overrides), rate,
            frozenset(spec.features.add), frozenset(spec.features.remove),
        )
    return tenants


def _default_tenant(
    default: DefaultTenant, plans: dict[str, Plan], regions: dict[str, Region], features: dict[str, str]
) -> Tenant:
    issues = []
    if default.plan not in plans:
        issues.append(ConfigIssue("environment", None, "TENANT_PLAN",
                                  f"unknown plan {default.plan!r} (known: {', '.join(sorted(plans))})"))
    if default.region not in regions:
        issues.append(ConfigIssue("environment", None, "TENANT_REGION",
                                  f"unknown region {default.region!r} (known: {', '.join(sorted(regions))})"))
    if not _ID.fullmatch(default.id):
        issues.append(ConfigIssue("environment", None, "TENANT_ID", "ids use letters, digits, '.', '_' and '-'"))
    if issues:
        raise ConfigError(issues)
    plan = plans[default.plan]
    return _tenant(default.id, default.name, None, plan, regions[default.region], features,
                   dict(plan.limits), frozenset(), plan.rate_limit, frozenset(), frozenset())


def _tenant(
    tenant_id: str, name: str, domain: str | None, plan: Plan, region: Region, features: dict[str, str],
    limits: dict[str, Limit], overrides: frozenset[str], rate: RateLimit,
    add: frozenset[str], remove: frozenset[str],
) -> Tenant:
    decisions = resolve_features(plan, features, add, remove)
    return Tenant(
        id=tenant_id, name=name, domain=domain, plan=plan, region=region,
        limits=MappingProxyType(limits), limit_overrides=overrides, rate_limit=rate,
        decisions=MappingProxyType(decisions),
        enabled_features=tuple(n for n, d in decisions.items() if d.enabled),
    )


def _limits(doc: YamlDoc, path: PathT, raw: dict[str, Any], soft: set[str], *, required: bool) -> dict[str, Limit]:
    limits: dict[str, Limit] = {}
    for name, value in raw.items():
        kind = LIMIT_KINDS.get(name)
        where = (*path, name)
        if kind is None:
            doc.issue(where, f"unknown limit (known: {', '.join(LIMIT_KINDS)})")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            doc.issue(where, f"must be a number, got {value!r}")
            continue
        if value < 0:
            doc.issue(where, f"must not be negative (got {value})")
            continue
        if kind.integer and value != int(value):
            doc.issue(where, f"must be a whole number (got {value})")
            continue
        limits[name] = Limit(kind, int(value) if kind.integer or value == int(value) else float(value), name in soft)
    if required:
        for name in LIMIT_KINDS:
            if name not in raw:
                doc.issue((*path, name), "required limit is missing")
    return limits


def _rate(doc: YamlDoc, path: PathT, spec: _RateLimitSpec) -> RateLimit:
    if not math.isfinite(spec.requests_per_second) or spec.requests_per_second <= 0:
        doc.issue((*path, "requests_per_second"), "must be a positive number")
    burst = spec.burst if spec.burst is not None else max(1, math.ceil(spec.requests_per_second))
    if burst < 1:
        doc.issue((*path, "burst"), "must be at least 1")
    return RateLimit(spec.requests_per_second, burst)


def _known(doc: YamlDoc, path: PathT, names: list[str], known: Any, what: str) -> None:
    for index, name in enumerate(names):
        if name not in known:
            doc.issue((*path, index), f"unknown {what} {name!r}")
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            doc.issue((*path, index), f"{what} {name!r} listed twice")
        seen.add(name)
