"""Usage and limits per tenant as Prometheus gauges, so Prometheus can alert at 80 % of a quota.

One family per resource in its base unit (storage in bytes), plus one unitless
``tenant_exporter_quota_usage_ratio{tenant,resource}`` and the 80 % / 100 % crossings.
``refresh()`` runs in the background after each usage flush; ``collect()`` yields the last
snapshot and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.tenancy.catalog import Catalog
from exporter.tenancy.usage import WARNING_RATIO, UsageTracker

# limit name -> (usage family, limit family, multiplier to the base unit)
FAMILIES: Mapping[str, tuple[str, str, float]] = MappingProxyType({
    "api_calls_per_month": ("tenant_exporter_api_calls_this_month", "tenant_exporter_api_calls_monthly_limit", 1.0),
    "storage_gb": ("tenant_exporter_storage_used_bytes", "tenant_exporter_storage_limit_bytes", 1e9),
    "team_members": ("tenant_exporter_team_members", "tenant_exporter_team_members_limit", 1.0),
    "cases": ("tenant_exporter_cases", "tenant_exporter_cases_limit", 1.0),
})
HELP = {
    "api_calls_per_month": ("API calls counted this calendar month (UTC).", "Monthly API call quota."),
    "storage_gb": ("Storage in use, as last reported.", "Storage limit."),
    "team_members": ("Active team members, as last reported.", "Team member limit."),
    "cases": ("Cases created, as last reported.", "Case limit."),
}
THRESHOLDS = (WARNING_RATIO, 1.0)


class UsageCollector(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._families: list[GaugeMetricFamily] = []
        registry.register(self)

    def refresh(self, catalog: Catalog, usage: UsageTracker) -> None:
        """Rebuild the snapshot from the catalog and the in-memory usage (no I/O)."""
        used_f: dict[str, GaugeMetricFamily] = {}
        limit_f: dict[str, GaugeMetricFamily] = {}
        for name, (used_name, limit_name, _) in FAMILIES.items():
            used_help, limit_help = HELP[name]
            used_f[name] = GaugeMetricFamily(used_name, used_help, labels=["tenant"])
            limit_f[name] = GaugeMetricFamily(limit_name, limit_help, labels=["tenant", "enforcement"])
        ratio = GaugeMetricFamily("tenant_exporter_quota_usage_ratio",
                                  "Usage divided by limit (1.0 = the limit is reached).", labels=["tenant", "resource"])
        crossed = GaugeMetricFamily("tenant_exporter_quota_threshold_reached",
                                    "1 when usage has reached the given share of the limit.",
                                    labels=["tenant", "resource", "threshold"])
        for tenant in catalog.tenants.values():
            for name, figure in usage.figures(tenant).items():
                scale = FAMILIES[name][2]
                used_f[name].add_metric([tenant.id], figure.used * scale)
                limit_f[name].add_metric([tenant.id, figure.limit.enforcement], figure.limit.value * scale)
                ratio.add_metric([tenant.id, name], figure.ratio)
                for threshold in THRESHOLDS:
                    crossed.add_metric([tenant.id, name, f"{threshold:g}"], 1.0 if figure.ratio >= threshold else 0.0)
        self._families = [*used_f.values(), *limit_f.values(), ratio, crossed]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family names, so ``name[]`` filtering finds this collector."""
        for used_name, limit_name, _ in FAMILIES.values():
            yield GaugeMetricFamily(used_name, "", labels=["tenant"])
            yield GaugeMetricFamily(limit_name, "", labels=["tenant", "enforcement"])
        yield GaugeMetricFamily("tenant_exporter_quota_usage_ratio", "", labels=["tenant", "resource"])
        yield GaugeMetricFamily("tenant_exporter_quota_threshold_reached", "",
                                labels=["tenant", "resource", "threshold"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families
