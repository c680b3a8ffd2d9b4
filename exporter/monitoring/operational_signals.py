"""What ``operational_alerts:`` in monitoring.yml can watch: signals only Prometheus evaluates.

The threshold rules (``signals.py``) are evaluated twice, in Prometheus and in the service, and
must agree. These cannot be: a replica cannot see itself down, quotas are per tenant (the
service's own health is about the platform), and reload, audit and store failures are the
service's machinery reporting on itself. Each signal is one recording rule
(``level:metric:operations``) over the exported families, or a family used as it is, with the
labels its alerts carry, so every alert is per instance, per tenant or per family, never a
fleet-wide average that hides one bad replica.

``$job`` is the scrape job of monitoring.yml. Quota usage comes from the usage and limit gauges
(``tenancy/metrics.py``): each replica exports the totals every replica flushed, so the fleet's
value is the ``max`` across instances, and the limit's ``enforcement`` label (``hard``/``soft``)
rides along for alerts that page only on hard limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

UnitName = Literal["ratio", "seconds", "count"]

# quota resource -> (usage family, limit family), as tenancy/metrics.py exports them
QUOTA_FAMILIES: Final = (
    ("api_calls_per_month", "tenant_exporter_api_calls_this_month", "tenant_exporter_api_calls_monthly_limit"),
    ("storage_gb", "tenant_exporter_storage_used_bytes", "tenant_exporter_storage_limit_bytes"),
    ("team_members", "tenant_exporter_team_members", "tenant_exporter_team_members_limit"),
    ("cases", "tenant_exporter_cases", "tenant_exporter_cases_limit"),
)


@dataclass(frozen=True, slots=True)
class OpsSignal:
    name: str
    title: str
    unit: UnitName
    labels: tuple[str, ...]  # what each alert is about (besides job): one alert per distinct set
    promql: str  # with $job
    record: str | None = None  # the recording rule's name; None: alerts read ``promql`` directly

    def series(self) -> str:
        """What an alert compares: the recorded series, or the family itself."""
        return self.record or self.promql


def _quota_ratio() -> str:
    parts = [
        f'label_replace(\n  max by (job, tenant) ({used}{{job="$job"}})\n  / on (job, tenant) group_right\n'
        f'  max by (job, tenant, enforcement) ({limit}{{job="$job"}} > 0),\n'
        f'  "resource", "{resource}", "", ""\n)'
        for resource, used, limit in QUOTA_FAMILIES
    ]
    return "\nor\n".join(parts)


OPS_SIGNALS: Final[Mapping[str, OpsSignal]] = MappingProxyType({s.name: s for s in (
    OpsSignal("quota_usage", "Quota use (usage / limit)", "ratio", ("tenant", "resource", "enforcement"),
              _quota_ratio(), "tenant:tenant_exporter_quota_usage:ratio"),
    OpsSignal("target_up", "Scrape target up (1) or down (0)", "count", ("instance",), 'up{job="$job"}'),
    OpsSignal("config_reload_successful", "Last config reload succeeded (1) or failed (0)", "count",
              ("instance",), 'tenant_exporter_config_last_reload_successful{job="$job"}'),
    OpsSignal("audit_write_failures", "Audit events whose commit failed in the last 5 minutes", "count",
              ("instance",),
              'sum by (job, instance) (increase(tenant_exporter_audit_write_failures_total{job="$job"}[5m]))',
              "instance:tenant_exporter_audit_write_failures:increase5m"),
    OpsSignal("audit_pending_age", "Age of the oldest audit event waiting for its commit", "seconds",
              ("instance",), 'tenant_exporter_audit_pending_age_seconds{job="$job"}'),
    OpsSignal("store_probe_success", "Share of successful database probes over 2 minutes", "ratio",
              ("instance",),
              'avg by (job, instance) (\n'
              '  avg_over_time(tenant_exporter_probe_success{job="$job",service="database"}[2m])\n)',
              "instance:tenant_exporter_store_probe_success:avg_over_time2m"),
    OpsSignal("metrics_series_usage", "Label sets of an HTTP metric family / METRICS_MAX_SERIES", "ratio",
              ("instance", "metric"),
              'tenant_exporter_metrics_series{job="$job"}\n/ on (job, instance, metric)\n'
              'tenant_exporter_metrics_series_limit{job="$job"}',
              "instance:tenant_exporter_metrics_series:ratio"),
    OpsSignal("rate_limit_shared", "Rate limits shared through Redis (1) or per replica (0), with REDIS_URL",
              "count", ("instance",), 'tenant_exporter_rate_limit_shared{job="$job"}'),
    OpsSignal("config_versions", "Config versions the replicas run (1 when they agree)", "count", (),
              'count by (job) (count by (job, version) (tenant_exporter_config_info{job="$job"}))',
              "job:tenant_exporter_config_versions:count"),
    OpsSignal("custom_series_usage", "A tenant's custom metric series / its limit", "ratio", ("instance", "tenant"),
              'tenant_exporter_custom_series{job="$job"}\n/ on (job, instance) group_left\n'
              'tenant_exporter_custom_series_limit{job="$job"}',
              "instance:tenant_exporter_custom_series:ratio"),
)})
