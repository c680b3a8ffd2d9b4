"""plans.yml + tenants.yml + regions.yml -> Catalog, or a ConfigError naming file, line and field."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from exporter.core.errors import ConfigError, ConfigIssue
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc, load_yaml, raise_if_issues
from exporter.settings import DefaultTenant
from exporter.tenancy.catalog import LIMIT_KINDS, Catalog, Plan, Region, Tenant
from exporter.tenancy.spec import (
    TENANT_ID,
    RateLimitSpec,
    TenantBuilder,
    TenantSpec,
    check_known,
    check_limits,
    check_rate,
)

SUPPORTED_VERSION = 1
_URL = whole(r"https?://[^\s/?#]+(/[^\s?#]*)?")


class _PlanSpec(msgspec.Struct, forbid_unknown_fields=True):
    rate_limit: RateLimitSpec
    limits: dict[str, Any]
    features: list[str] = []
    soft_limits: list[str] = []
    compliance_standards: list[str] = []
    audit_retention_days: int = 90
    description: str = ""


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
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths))
    digest.update(repr(default_tenant).encode() if not tenants_doc.get(("tenants",)) else b"")
    version = digest.hexdigest()[:16]
    tenants = _tenants(tenants_doc, TenantBuilder(plans, regions, features, version), default_tenant)
    raise_if_issues(*docs)
    return Catalog(
        version=version,
        features=MappingProxyType(features),
        compliance_names=MappingProxyType(compliance),
        plans=MappingProxyType(plans),
        regions=MappingProxyType(regions),
        tenants=tenants,  # a dict: the tenant directory adds the API's tenants to it
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
        if not TENANT_ID.fullmatch(key):
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
        check_known(doc, (*where, "features"), spec.features, features, "feature")
        check_known(doc, (*where, "compliance_standards"), spec.compliance_standards, compliance,
                    "compliance standard")
        limits = check_limits(doc, (*where, "limits"), spec.limits, set(spec.soft_limits), required=True)
        check_known(doc, (*where, "soft_limits"), spec.soft_limits, LIMIT_KINDS, "limit")
        if spec.audit_retention_days < 0:
            doc.issue((*where, "audit_retention_days"), "must not be negative")
        plans[name] = Plan(
            name=name,
            description=spec.description,
            features=frozenset(spec.features),
            limits=MappingProxyType(limits),
            compliance_standards=tuple(spec.compliance_standards),
            rate_limit=check_rate(doc, (*where, "rate_limit"), spec.rate_limit),
            audit_retention_days=spec.audit_retention_days,
        )
    if not plans:
        doc.issue(("plans",), "at least one plan is required")
    return plans


def _tenants(doc: YamlDoc, builder: TenantBuilder, default: DefaultTenant) -> dict[str, Tenant]:
    raw = doc.get(("tenants",))
    if raw is None or raw == []:
        return {default.id: _default_tenant(default, builder)}
    if not isinstance(raw, list):
        doc.issue(("tenants",), "must be a list of tenants")
        return {}
    tenants: dict[str, Tenant] = {}
    for index, value in enumerate(raw):
        where: PathT = ("tenants", index)
        spec = doc.convert(value, TenantSpec, where)
        if spec is None:
            continue
        if spec.id in tenants:
            doc.issue((*where, "id"), f"duplicate tenant id {spec.id!r}")
        tenant = builder.build(spec, doc, where)
        if tenant is not None:
            tenants[spec.id] = tenant
    return tenants


def _default_tenant(default: DefaultTenant, builder: TenantBuilder) -> Tenant:
    issues = []
    if default.plan not in builder.plans:
        issues.append(ConfigIssue("environment", None, "TENANT_PLAN",
                                  f"unknown plan {default.plan!r} (known: {', '.join(sorted(builder.plans))})"))
    if default.region not in builder.regions:
        issues.append(ConfigIssue("environment", None, "TENANT_REGION",
                                  f"unknown region {default.region!r} (known: {', '.join(sorted(builder.regions))})"))
    if not TENANT_ID.fullmatch(default.id):
        issues.append(ConfigIssue("environment", None, "TENANT_ID", "ids use letters, digits, '.', '_' and '-'"))
    env = YamlDoc("environment", {})
    tenant = None if issues else builder.build(
        TenantSpec(default.id, default.name, default.plan, default.region), env, source="environment")
    issues += [ConfigIssue("environment", None, f"TENANT_{issue.field.upper()}", issue.message)
               for issue in env.issues]
    if tenant is None or issues:
        raise ConfigError(issues)
    return tenant
