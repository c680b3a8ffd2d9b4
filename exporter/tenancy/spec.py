"""A tenant as written (in ``tenants.yml`` or to the provisioning API) and the one set of rules that turns
it into a catalog ``Tenant``: a plan that exists, known regions and features, limits that are numbers.

Both sources report problems through ``Issues`` (``YamlDoc`` is one: file, line and field; the API
collects them as JSON pointers for a 422). ``TenantBuilder`` shares what tenants on the same plan and
overrides have in common (their resolved features and limits), so 100,000 tenants on four plans hold
four sets of decisions, not 100,000.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, Protocol

import msgspec

from exporter.core.parsing import whole
from exporter.tenancy.catalog import (
    LIMIT_KINDS,
    FeatureDecision,
    Limit,
    Plan,
    RateLimit,
    Region,
    Tenant,
    TenantSource,
    resolve_features,
)

PathT = tuple[str | int, ...]
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_HOST = r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*"
TENANT_ID = whole(_ID)
MAX_NAME = 200
_DOMAIN = whole(_HOST)
_CONTROL = frozenset(chr(c) for c in (*range(32), 127))
# Lengths are checked on decoding (from YAML and JSON alike; the OpenAPI shows them); the forms, with
# messages a person can act on, and what depends on the files in force (plans, regions, features), by
# TenantBuilder.build.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                 description="letters, digits, '.', '_' and '-', first a letter or digit")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME, description="no control characters")]
Host = Annotated[str, msgspec.Meta(min_length=1, max_length=253, description="a host name")]


class Issues(Protocol):
    """Where problems are reported: ``issue(("limits", "cases"), "must be a number")``, and kept."""

    @property
    def issues(self) -> Sequence[object]: ...

    def issue(self, path: PathT, message: str) -> object: ...


class IssueList:
    """Problems found outside a file (the provisioning API): each a path and a message."""

    def __init__(self) -> None:
        self.issues: list[tuple[PathT, str]] = []

    def issue(self, path: PathT, message: str) -> None:
        self.issues.append((path, message))


class RateLimitSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    requests_per_second: float
    burst: int | None = None


class FeatureOverride(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


class TenantSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True, gc=False):
    """One tenant: the fields of a ``tenants.yml`` entry, and the body of ``POST /api/admin/tenants``.

    ``plan``, ``region``, the features and the limits must exist in the config files in force. Not tracked
    by the cyclic garbage collector (``gc=False``: it holds no cycles), which has 100,000 fewer objects to walk."""

    id: Id
    name: Name
    plan: str
    region: str
    domain: Host | None = None
    features: FeatureOverride | None = None
    limits: dict[str, Any] | None = None
    soft_limits: tuple[str, ...] | None = None
    rate_limit: RateLimitSpec | None = None


def check_limits(issues: Issues, path: PathT, raw: Mapping[str, Any], soft: set[str], *,
                 required: bool) -> dict[str, Limit]:
    """``{name: number}`` -> Limits (known kinds, finite, not negative, whole where counted)."""
    limits: dict[str, Limit] = {}
    for name, value in raw.items():
        kind = LIMIT_KINDS.get(name)
        where = (*path, name)
        if kind is None:
            issues.issue(where, f"unknown limit (known: {', '.join(LIMIT_KINDS)})")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            issues.issue(where, f"must be a number, got {value!r}")
            continue
        if value < 0:
            issues.issue(where, f"must not be negative (got {value})")
            continue
        if kind.integer and value != int(value):
            issues.issue(where, f"must be a whole number (got {value})")
            continue
        limits[name] = Limit(kind, int(value) if kind.integer or value == int(value) else float(value), name in soft)
    if required:
        for name in LIMIT_KINDS:
            if name not in raw:
                issues.issue((*path, name), "required limit is missing")
    return limits


def check_rate(issues: Issues, path: PathT, spec: RateLimitSpec) -> RateLimit:
    if not math.isfinite(spec.requests_per_second) or spec.requests_per_second <= 0:
        issues.issue((*path, "requests_per_second"), "must be a positive number")
    burst = spec.burst if spec.burst is not None else max(1, math.ceil(spec.requests_per_second))
    if burst < 1:
        issues.issue((*path, "burst"), "must be at least 1")
    return RateLimit(spec.requests_per_second, burst)


def check_known(issues: Issues, path: PathT, names: tuple[str, ...] | list[str], known: Any, what: str) -> None:
    """Each name is ``in known`` and listed once."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name not in known:
            issues.issue((*path, index), f"unknown {what} {name!r}")
        elif name in seen:
            issues.issue((*path, index), f"{what} {name!r} listed twice")
        seen.add(name)


class TenantBuilder:
    """Builds the tenants of one catalog (its plans, regions, features and version)."""

    def __init__(self, plans: Mapping[str, Plan], regions: Mapping[str, Region], features: Mapping[str, str],
                 version: str) -> None:
        self.plans, self.regions, self.features, self.version = plans, regions, features, version
        self._decisions: dict[tuple[str, frozenset[str], frozenset[str]],
                              tuple[Mapping[str, FeatureDecision], tuple[str, ...]]] = {}
        self._limits: dict[tuple[str, frozenset[str]], Mapping[str, Limit]] = {}

    def build(self, spec: TenantSpec, issues: Issues, where: PathT = (), *, source: TenantSource = "tenants.yml",
              revision: int = 0, disabled: bool = False) -> Tenant | None:
        """The tenant ``spec`` describes, or None after reporting each problem to ``issues``."""
        count = len(issues.issues)
        if not TENANT_ID.fullmatch(spec.id):
            issues.issue((*where, "id"), "ids use letters, digits, '.', '_' and '-' (at most 64), first a letter "
                                         "or digit")
        if _CONTROL.intersection(spec.name):
            issues.issue((*where, "name"), "a name without control characters")
        if spec.domain is not None and not _DOMAIN.fullmatch(spec.domain):
            issues.issue((*where, "domain"), "a host name such as acme.example.com")
        plan = self.plans.get(spec.plan)
        if plan is None:
            issues.issue((*where, "plan"), f"unknown plan {spec.plan!r} (known: {', '.join(sorted(self.plans))})")
        region = self.regions.get(spec.region)
        if region is None:
            issues.issue((*where, "region"),
                         f"unknown region {spec.region!r} (known: {', '.join(sorted(self.regions))})")
        override = spec.features or FeatureOverride()
        check_known(issues, (*where, "features", "add"), override.add, self.features, "feature")
        check_known(issues, (*where, "features", "remove"), override.remove, self.features, "feature")
        both = set(override.add) & set(override.remove)
        if both:
            issues.issue((*where, "features"), f"both added and removed: {', '.join(sorted(both))}")
        if spec.soft_limits is not None:
            check_known(issues, (*where, "soft_limits"), spec.soft_limits, LIMIT_KINDS, "limit")
        rate = check_rate(issues, (*where, "rate_limit"), spec.rate_limit) if spec.rate_limit else None
        if plan is None or region is None:
            return None
        soft = frozenset(spec.soft_limits) if spec.soft_limits is not None else frozenset(
            name for name, limit in plan.limits.items() if limit.soft)
        overrides = check_limits(issues, (*where, "limits"), spec.limits or {}, set(soft), required=False)
        if len(issues.issues) != count:
            return None
        decisions, enabled = self._features(plan, frozenset(override.add), frozenset(override.remove))
        intern = sys.intern
        return Tenant(
            id=intern(spec.id), name=spec.name, domain=spec.domain, plan=plan, region=region,
            limits=self._limits_for(plan, soft, overrides), limit_overrides=frozenset(overrides),
            rate_limit=rate or plan.rate_limit, decisions=decisions, enabled_features=enabled, source=source,
            version=f"{self.version}-{revision}" if revision else self.version, disabled=disabled, spec=spec,
            revision=revision,
        )

    def _features(self, plan: Plan, add: frozenset[str], remove: frozenset[str]
                  ) -> tuple[Mapping[str, FeatureDecision], tuple[str, ...]]:
        key = (plan.name, add, remove)
        found = self._decisions.get(key)
        if found is None:
            decisions = resolve_features(plan, self.features, add, remove)
            found = self._decisions[key] = (MappingProxyType(decisions),
                                            tuple(n for n, d in decisions.items() if d.enabled))
        return found

    def _limits_for(self, plan: Plan, soft: frozenset[str], overrides: dict[str, Limit]) -> Mapping[str, Limit]:
        if overrides:
            limits = {name: Limit(lim.kind, lim.value, name in soft) for name, lim in plan.limits.items()}
            limits.update(overrides)
            return MappingProxyType(limits)
        key = (plan.name, soft)
        found = self._limits.get(key)
        if found is None:
            found = self._limits[key] = MappingProxyType(
                {name: Limit(lim.kind, lim.value, name in soft) for name, lim in plan.limits.items()})
        return found
