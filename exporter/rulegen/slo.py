"""Each service's SLA target -> SLO recording rules and multi-window multi-burn-rate alerts (``rules/slo.yml``).

Names and labels are Sloth's (``slo:sli_error:ratio_rate5m`` ... ``slo:period_error_budget_remaining:ratio``,
``sloth_id``, ``sloth_service``, ``sloth_slo``, ``sloth_window``), so Sloth's Grafana dashboard
reads them unchanged. The windows and factors are the SRE workbook's for a 30-day budget (Sloth's
defaults): page on 1h & 5m at 14.4x or 6h & 30m at 6x, ticket on 1d & 2h at 3x or 3d & 6h at 1x.

Where this does better than Sloth (docs/alerting.md, "SLO burn-rate alerts"):

- The SLI is the service's probes: errors ``tenant_exporter_probe_failures_total``, events
  ``tenant_exporter_probes_total``: the very results the SLA accounting counts, so the alerts
  protect the budget ``/api/monitoring/sla`` reports.
- Every window's ratio is a ratio of **summed counts** (``increase`` of errors over ``increase``
  of events over the whole window, both recorded), never an average of short ratios.
- A **minimum-events guard**: a tier fires only with at least ``alert_min_events`` results in its
  long window, so one failure among a handful of results (just after a start) never pages.
- **No ``for:``** (the workbook: ``for`` costs recall and resets when the burn dips); the short
  window already makes the alert stop soon after recovery.
- One alerting rule per tier with a stable ``tier`` label (``page-1h``, ``page-6h``, ``ticket-1d``,
  ``ticket-3d``) for Alertmanager inhibition; thresholds are **exact literals** (14.4 x 0.001 is
  ``0.0144``, computed in ``Decimal``, never ``1 - 0.999`` in floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from exporter.core.durations import format_duration
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.operational import runbook_url
from exporter.monitoring.services import ServiceConfig

FILE_NAME: Final = "slo.yml"
SLO: Final = "availability"
PERIOD: Final = "30d"
WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PERIOD_GROUP_INTERVAL: Final = "5m"
EVENTS: Final = "tenant_exporter_probes_total"
ERRORS: Final = "tenant_exporter_probe_failures_total"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    severity: str  # Alertmanager routing: critical pages, warning makes a ticket
    sloth_severity: str  # page | ticket
    long: str
    short: str
    factor: Decimal
    exhaustion: str  # how long the 30-day budget lasts at this burn rate


TIERS: Final = (
    Tier("page-1h", "critical", "page", "1h", "5m", Decimal("14.4"), "2d 2h"),
    Tier("page-6h", "critical", "page", "6h", "30m", Decimal(6), "5d"),
    Tier("ticket-1d", "warning", "ticket", "1d", "2h", Decimal(3), "10d"),
    Tier("ticket-3d", "warning", "ticket", "3d", "6h", Decimal(1), "30d"),
)


def literal(value: Decimal) -> str:
    return format(value.normalize(), "f")


def sloth_id(service: ServiceConfig) -> str:
    return f"{service.name}-{SLO}"


def alert_name(service: ServiceConfig) -> str:
    return f"{service.camel}AvailabilityBudgetBurn"


def threshold(service: ServiceConfig, tier: Tier) -> str:
    """The burn threshold as one exact literal: ``14.4 x (1 - 0.999)`` -> ``0.0144``."""
    return literal(tier.factor * service.target.budget)


def _labels(service: ServiceConfig, **extra: str) -> dict[str, str]:
    return {"sloth_id": sloth_id(service), "sloth_service": service.name, "sloth_slo": SLO, **extra}


def _sli_rules(service: ServiceConfig, job: str, window: str) -> list[dict[str, Any]]:
    selector = f'{{job="{job}",service="{service.name}"}}'
    own = f'{{sloth_id="{sloth_id(service)}",sloth_window="{window}"}}'
    labels = _labels(service, sloth_window=window)
    return [
        {"record": f"slo:sli_error:increase{window}", "expr": f"sum(increase({ERRORS}{selector}[{window}]))",
         "labels": labels},
        {"record": f"slo:sli_total:increase{window}", "expr": f"sum(increase({EVENTS}{selector}[{window}]))",
         "labels": labels},
        {"record": f"slo:sli_error:ratio_rate{window}",
         "expr": f"slo:sli_error:increase{window}{own}\n/\nslo:sli_total:increase{window}{own}", "labels": labels},
    ]


def _by_budget(service: ServiceConfig, metric: str) -> str:
    match = f'{{sloth_id="{sloth_id(service)}"}}'
    return f"{metric}{match}\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{match}"


def _meta_rules(service: ServiceConfig) -> list[dict[str, Any]]:
    target = service.target
    info = _labels(service, sloth_mode="cli-gen-prom", sloth_objective=literal(target.ratio * 100),
                   sloth_spec="prometheus/v1", sloth_version="tenant-exporter")
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({target.literal})", "labels": _labels(service)},
        {"record": "slo:error_budget:ratio", "expr": f"vector({target.budget_literal})", "labels": _labels(service)},
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": _labels(service)},
        {"record": "slo:current_burn_rate:ratio", "expr": _by_budget(service, "slo:sli_error:ratio_rate5m"),
         "labels": _labels(service)},
        {"record": "sloth_slo:info", "expr": "vector(1)", "labels": info},
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": info},  # the name Sloth's own UI reads
    ]


def _period_rules(service: ServiceConfig, job: str) -> list[dict[str, Any]]:
    return [*_sli_rules(service, job, PERIOD),
            {"record": "slo:period_burn_rate:ratio", "expr": _by_budget(service, f"slo:sli_error:ratio_rate{PERIOD}"),
             "labels": _labels(service)},
            {"record": "slo:period_error_budget_remaining:ratio",
             "expr": f'1 - slo:period_burn_rate:ratio{{sloth_id="{sloth_id(service)}"}}', "labels": _labels(service)}]


def alert_expression(service: ServiceConfig, tier: Tier, min_events: int) -> str:
    match = f'{{sloth_id="{sloth_id(service)}"}}'
    over = threshold(service, tier)
    return (f"max(slo:sli_error:ratio_rate{tier.short}{match} > {over}) without (sloth_window)\n"
            f"and\nmax(slo:sli_error:ratio_rate{tier.long}{match} > {over}) without (sloth_window)\n"
            f"and\nmax(slo:sli_total:increase{tier.long}{match} >= {min_events}) without (sloth_window)")


def _alert(service: ServiceConfig, tier: Tier, min_events: int) -> dict[str, Any]:
    target = service.target.text
    return {
        "alert": alert_name(service),
        "expr": alert_expression(service, tier, min_events),
        "labels": {"severity": tier.severity, "sloth_severity": tier.sloth_severity, "tier": tier.name},
        "annotations": {
            "title": f"({tier.sloth_severity}) {service.name} {SLO} SLO error budget burn rate is too fast.",
            "summary": f"{service.title} is burning its error budget {literal(tier.factor)}x too fast.",
            "description": f"More than {literal(tier.factor)} times the failure rate the {target} target allows, "
                           f"over the last {tier.long} and {tier.short} (at least {min_events} probes): at this "
                           f"rate the 30-day error budget lasts {tier.exhaustion}.",
        },
    }


def groups(monitoring: MonitoringConfig) -> list[dict[str, Any]]:
    interval = format_duration(monitoring.evaluation_interval_ms)
    out: list[dict[str, Any]] = []
    for service in monitoring.services:
        sid = sloth_id(service)
        sli = [rule for window in WINDOWS for rule in _sli_rules(service, monitoring.job, window)]
        alerts = [_alert(service, tier, monitoring.sla.alert_min_events) for tier in TIERS]
        for alert in alerts:  # one section of docs/runbooks.md for every service's burn-rate alerts
            alert["annotations"]["runbook_url"] = runbook_url(monitoring.runbook_base_url, f"{SLO}BudgetBurn")
        out += [
            {"name": f"sloth-slo-sli-recordings-{sid}", "interval": interval, "rules": sli},
            {"name": f"sloth-slo-meta-recordings-{sid}", "interval": interval, "rules": _meta_rules(service)},
            {"name": f"sloth-slo-period-recordings-{sid}", "interval": PERIOD_GROUP_INTERVAL,
             "rules": _period_rules(service, monitoring.job)},
            {"name": f"sloth-slo-alerts-{sid}", "interval": interval, "rules": alerts},
        ]
    return out
