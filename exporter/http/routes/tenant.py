"""Tenant API handlers: ``/api/tenant/*``, for the caller's tenant."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from aiohttp import web

from exporter.audit.actions import USAGE_REPORT
from exporter.audit.events import Target
from exporter.config import ConfigHolder
from exporter.core.clock import isoformat
from exporter.http.auditing import Auditing
from exporter.http.caller import TENANT, requires
from exporter.http.json import BodyCache, json_response
from exporter.http.openapi import operation, read_body
from exporter.http.routes import tenant_models as m
from exporter.tenancy.catalog import Region, Tenant
from exporter.tenancy.regions import FEATURE_PATH_PATTERN, regional_url
from exporter.tenancy.usage import UsageTracker


def _region(region: Region) -> m.RegionOut:
    return m.RegionOut(region.id, region.name, region.api_base_url, region.jurisdiction)


def _limits(tenant: Tenant) -> dict[str, float | int]:
    return {name: limit.value for name, limit in tenant.limits.items()}


def usage_body(tenant: Tenant, usage: UsageTracker) -> m.UsageOut:
    start, end = usage.period()
    flat: dict[str, float | int] = {}
    details: dict[str, m.UsageDetail] = {}
    for name, fig in usage.figures(tenant).items():
        kind = fig.limit.kind
        used = fig.used
        flat[kind.usage_field] = used
        flat[kind.limit_field] = fig.limit.value
        details[name] = m.UsageDetail(
            limit=fig.limit.value, used=used, balance=fig.balance, overage=fig.overage,
            ratio=round(fig.ratio, 6), unit=kind.unit, enforcement=fig.limit.enforcement,
            has_access=fig.has_access, status=fig.status, thresholds_crossed=fig.thresholds_crossed,
            resets_at=isoformat(end) if kind.resets_monthly else None,
        )
    return m.UsageOut(flat, tenant.plan.name, m.Period(isoformat(start), isoformat(end)), details)


class TenantApi:
    def __init__(self, config: ConfigHolder, usage: UsageTracker, bodies: BodyCache, auditing: Auditing) -> None:
        self._config = config
        self._usage = usage
        self._bodies = bodies
        self._auditing = auditing

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/tenant/config", self.get_config),
                web.get("/api/tenant/features", self.get_features),
                web.get("/api/tenant/feature/{feature_name}", self.get_feature),
                web.get("/api/tenant/limits", self.get_limits),
                web.get("/api/tenant/usage", self.get_usage),
                web.put("/api/tenant/usage", self.put_usage),
                web.get("/api/tenant/compliance", self.get_compliance),
                web.get("/api/tenant/region/{feature_path:(?s:.*)}", self.get_regional_endpoint)]

    def _cached(self, tenant: Tenant, what: str, build: Callable[[], object]) -> web.StreamResponse:
        """An answer that depends only on the tenant and the catalog: encoded once per version of the tenant."""
        return self._bodies.response((what, tenant.version, tenant.id), build)


    @requires()
    @operation(m.TenantConfig)
    async def get_config(self, request: web.Request) -> web.StreamResponse:
        """The tenant's configuration: plan, enabled features, limits, compliance, region."""
        tenant = request[TENANT]
        return self._cached(tenant, "config", lambda: m.TenantConfig(
            id=tenant.id, name=tenant.name, region=tenant.region.id, plan=tenant.plan.name,
            features=list(tenant.enabled_features), limits=_limits(tenant),
            compliance_standards=list(tenant.plan.compliance_standards), domain=tenant.domain,
            api_base_url=tenant.region.api_base_url, data_residency=_region(tenant.region),
            config_version=tenant.version,
        ))

    @requires()
    @operation(m.FeaturesOut)
    async def get_features(self, request: web.Request) -> web.StreamResponse:
        """The enabled features, and for every known feature why it is on or off."""
        tenant = request[TENANT]
        return self._cached(tenant, "features", lambda: m.FeaturesOut(
            list(tenant.enabled_features), tenant.plan.name,
            {name: m.FeatureDetail(d.enabled, d.reason, d.source, d.explanation)
             for name, d in tenant.decisions.items()}))

    @requires()
    @operation(m.FeatureCheck)
    async def get_feature(self, request: web.Request) -> web.StreamResponse:
        """Whether one feature is enabled; an unknown name is ``enabled: false, known: false``."""
        tenant = request[TENANT]
        d = tenant.feature(request.match_info["feature_name"])

        def build() -> m.FeatureCheck:
            return m.FeatureCheck(d.feature, d.enabled, d.known, d.reason, d.source, d.variant, d.explanation,
                                  tenant.plan.name)

        return self._cached(tenant, "feature:" + d.feature, build) if d.known else json_response(build())

    @requires()
    @operation(m.LimitsOut)
    async def get_limits(self, request: web.Request) -> web.StreamResponse:
        """The tenant's limits, each with its unit, enforcement and where it comes from."""
        tenant = request[TENANT]

        def build() -> m.LimitsOut:
            details = {
                name: m.LimitDetail(
                    limit=limit.value, unit=limit.kind.unit, enforcement=limit.enforcement,
                    period="month" if limit.kind.resets_monthly else None,
                    source="tenant_override" if name in tenant.limit_overrides else "plan",
                )
                for name, limit in tenant.limits.items()
            }
            rate = m.RateLimitOut(tenant.rate_limit.requests_per_second, tenant.rate_limit.burst)
            return m.LimitsOut(_limits(tenant), tenant.plan.name, details, rate)

        return self._cached(tenant, "limits", build)

    @requires()
    @operation(m.UsageOut)
    async def get_usage(self, request: web.Request) -> web.Response:
        """Current usage against each limit (API calls this calendar month, UTC)."""
        return json_response(usage_body(request[TENANT], self._usage))

    @requires("service")
    @operation(m.UsageOut, body=m.UsageReport, errors=(503,))
    async def put_usage(self, request: web.Request) -> web.Response:
        """Report storage, team members and cases (role service); answers the updated usage.

        Any subset of the three fields; fields left out keep their last reported value.
        """
        report: m.UsageReport = await read_body(request)
        values = {k: float(v) for k, v in msgspec.structs.asdict(report).items() if v is not None}
        tenant = request[TENANT]
        usage = self._usage
        if values:  # an empty report changes nothing and answers the current usage
            await usage.report(tenant.id, values)
            await self._auditing.record(request, USAGE_REPORT, target=Target("usage", tenant.id),
                                        details={"values": values})
        return json_response(usage_body(tenant, usage))

    @requires()
    @operation(m.ComplianceOut)
    async def get_compliance(self, request: web.Request) -> web.StreamResponse:
        """Compliance standards of the tenant's plan and where its data resides."""
        tenant = request[TENANT]
        names = self._config.current.catalog.compliance_names
        standards = list(tenant.plan.compliance_standards)
        return self._cached(tenant, "compliance", lambda: m.ComplianceOut(
            tenant.id, tenant.plan.name, standards, [m.Certification(s, names.get(s, s)) for s in standards],
            _region(tenant.region),
        ))

    @requires()
    @operation(m.RegionalEndpoint, errors=(400,), path_patterns={"feature_path": FEATURE_PATH_PATTERN})
    async def get_regional_endpoint(self, request: web.Request) -> web.Response:
        """The regional URL for a feature path, for data residency (``getApiBaseUrl()``)."""
        tenant = request[TENANT]
        path = request.match_info["feature_path"]
        url = regional_url(tenant.region, path)
        return json_response(
            m.RegionalEndpoint(tenant.region.id, path, tenant.region.api_base_url, url, tenant.region.jurisdiction)
        )
