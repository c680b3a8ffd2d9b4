"""Every SLO of monitoring.yml -> Sloth-named recording rules and multi-window multi-burn-rate alerts (rules/slo.yml).

Two kinds of SLO, one generator:

- each probed service's *availability* (``services:``, its ``sla_target``): errors
  ``tenant_exporter_probe_failures_total``, events ``tenant_exporter_probes_total``: the very
  results the SLA accounting counts, so the alerts protect the budget ``/sla`` reports;
- the API's *request* and *latency* SLOs (``slos:``, ``monitoring/slos.py``): errors are 5xx (or
  requests slower than the threshold, from the duration histogram's bucket) among the requests
  ``ErrorRateHigh`` counts; per tenant when asked (``sum by (tenant)``).

Names and labels are Sloth's (``slo:sli_error:ratio_rate5m`` ... ``slo:period_error_budget_remaining:ratio``,
``sloth_id``, ``sloth_service``, ``sloth_slo``, ``sloth_window``), so Sloth's Grafana dashboard
reads them unchanged. The windows and factors are the SRE workbook's for a 30-day budget (Sloth's
defaults): page on 1h & 5m at 14.4x or 6h & 30m at 6x, ticket on 1d & 2h at 3x or 3d & 6h at 1x.

Where this does better than Sloth (docs/alerting.md, "SLO burn-rate alerts"):

- Every window's ratio is a ratio of **summed counts** (``increase`` of errors over ``increase``
  of events over the whole window, both recorded), never an average of short ratios.
- **No NaN**: a window without events has no ratio (``>= 0`` drops 0/0, as the signals do), and
  the period's remaining budget is 1 (nothing was spent), never NaN (Sloth #348, #133).
- A **minimum-events guard**: a tier fires only with at least ``alert_min_events`` events in its
  long window, so one failure among a handful of events (just after a start) never pages.
- **No ``for:``** (the workbook: ``for`` costs recall and resets when the burn dips); the short
  window already makes the alert stop soon after recovery.
- One alerting rule per tier with a stable ``tier`` label (``page-1h``, ``page-6h``, ``ticket-1d``,
  ``ticket-3d``) for Alertmanager inhibition; thresholds are **exact literals** (14.4 x 0.001 is
  ``0.0144``, computed in ``Decimal``, never ``1 - 0.999`` in floats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from exporter.core.durations import format_duration
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.operational import runbook_url
from exporter.monitoring.services import ServiceConfig, SlaTarget
from exporter.monitoring.slos import SERVICE, RequestSlo

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


@dataclass(frozen=True, slots=True)
class Slo:
    """What the generator needs of any SLO: its Sloth names, target, and SLI as PromQL per window."""

    id: str
    service: str
    slo: str
    title: str
    alert: str
    target: SlaTarget
    errors: Callable[[str], str]  # window -> PromQL of the bad events
    events: Callable[[str], str]  # window -> PromQL of the valid events
    unit: str  # "probes" or "requests", for the alert's description


def literal(value: Decimal) -> str:
    return format(value.normalize(), "f")


def sloth_id(service: ServiceConfig) -> str:
    return f"{service.name}-{SLO}"


def alert_name(service: ServiceConfig) -> str:
    return f"{service.camel}AvailabilityBudgetBurn"


def threshold(service: ServiceConfig | Slo, tier: Tier) -> str:
    """The burn threshold as one exact literal: ``14.4 x (1 - 0.999)`` -> ``0.0144``."""
    return literal(tier.factor * service.target.budget)


def probe_slo(service: ServiceConfig, job: str) -> Slo:
    selector = f'{{job="{job}",service="{service.name}"}}'
    return Slo(sloth_id(service), service.name, SLO, service.title, alert_name(service), service.target,
               lambda w: f"sum(increase({ERRORS}{selector}[{w}]))", lambda w: f"sum(increase({EVENTS}{selector}[{w}]))",
               "probes")


def request_slo(slo: RequestSlo, job: str) -> Slo:
    return Slo(slo.id, SERVICE, slo.name, f"API {slo.name}", f"{slo.camel}BudgetBurn", slo.objective,
               lambda w: slo.errors(job, w), lambda w: slo.total(job, w), "requests")


def all_slos(monitoring: MonitoringConfig) -> list[Slo]:
    return [*(probe_slo(s, monitoring.job) for s in monitoring.services),
            *(request_slo(s, monitoring.job) for s in monitoring.slos)]


def _labels(slo: Slo, **extra: str) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.slo, **extra}


def _sli_rules(slo: Slo, window: str) -> list[dict[str, Any]]:
    own = f'{{sloth_id="{slo.id}",sloth_window="{window}"}}'
    labels = _labels(slo, sloth_window=window)
    return [
        {"record": f"slo:sli_error:increase{window}", "expr": slo.errors(window), "labels": labels},
        {"record": f"slo:sli_total:increase{window}", "expr": slo.events(window), "labels": labels},
        {"record": f"slo:sli_error:ratio_rate{window}",
         "expr": f"slo:sli_error:increase{window}{own}\n/\nslo:sli_total:increase{window}{own}\n>= 0",
         "labels": labels},
    ]


def _by_budget(slo: Slo, metric: str) -> str:
    match = f'{{sloth_id="{slo.id}"}}'
    return f"{metric}{match}\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{match}"


def _meta_rules(slo: Slo) -> list[dict[str, Any]]:
    target = slo.target
    info = _labels(slo, sloth_mode="cli-gen-prom", sloth_objective=literal(target.ratio * 100),
                   sloth_spec="prometheus/v1", sloth_version="tenant-exporter")
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({target.literal})", "labels": _labels(slo)},
        {"record": "slo:error_budget:ratio", "expr": f"vector({target.budget_literal})", "labels": _labels(slo)},
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": _labels(slo)},
        {"record": "slo:current_burn_rate:ratio", "expr": _by_budget(slo, "slo:sli_error:ratio_rate5m"),
         "labels": _labels(slo)},
        {"record": "sloth_slo:info", "expr": "vector(1)", "labels": info},
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": info},  # the name Sloth's own UI reads
    ]


def _period_rules(slo: Slo) -> list[dict[str, Any]]:
    match = f'{{sloth_id="{slo.id}"}}'
    remaining = (f"1 - slo:period_burn_rate:ratio{match}\nor on (sloth_id, sloth_slo, sloth_service)\n"
                 f"0 * slo:error_budget:ratio{match} + 1")  # no events in the period: nothing spent, not NaN
    return [*_sli_rules(slo, PERIOD),
            {"record": "slo:period_burn_rate:ratio", "expr": _by_budget(slo, f"slo:sli_error:ratio_rate{PERIOD}"),
             "labels": _labels(slo)},
            {"record": "slo:period_error_budget_remaining:ratio", "expr": remaining, "labels": _labels(slo)}]


def alert_expression(slo: Slo, tier: Tier, min_events: int) -> str:
    match = f'{{sloth_id="{slo.id}"}}'
    over = threshold(slo, tier)
    return (f"max(slo:sli_error:ratio_rate{tier.short}{match} > {over}) without (sloth_window)\n"
            f"and\nmax(slo:sli_error:ratio_rate{tier.long}{match} > {over}) without (sloth_window)\n"
            f"and\nmax(slo:sli_total:increase{tier.long}{match} >= {min_events}) without (sloth_window)")


def _alert(slo: Slo, tier: Tier, min_events: int) -> dict[str, Any]:
    target = slo.target.text
    return {
        "alert": slo.alert,
        "expr": alert_expression(slo, tier, min_events),
        "labels": {"severity": tier.severity, "sloth_severity": tier.sloth_severity, "tier": tier.name},
        "annotations": {
            "title": f"({tier.sloth_severity}) {slo.service} {slo.slo} SLO error budget burn rate is too fast.",
            "summary": f"{slo.title} is burning its error budget {literal(tier.factor)}x too fast.",
            "description": f"More than {literal(tier.factor)} times the failure rate the {target} target allows, "
                           f"over the last {tier.long} and {tier.short} (at least {min_events} {slo.unit}): at "
                           f"this rate the 30-day error budget lasts {tier.exhaustion}.",
        },
    }


def groups(monitoring: MonitoringConfig) -> list[dict[str, Any]]:
    interval = format_duration(monitoring.evaluation_interval_ms)
    out: list[dict[str, Any]] = []
    for slo in all_slos(monitoring):
        sli = [rule for window in WINDOWS for rule in _sli_rules(slo, window)]
        alerts = [_alert(slo, tier, monitoring.sla.alert_min_events) for tier in TIERS]
        for alert in alerts:  # one section of docs/runbooks.md for the burn-rate alerts of each kind of SLO
            section = f"{SLO}BudgetBurn" if slo.unit == "probes" else "RequestsBudgetBurn"
            alert["annotations"]["runbook_url"] = runbook_url(monitoring.runbook_base_url, section)
        out += [
            {"name": f"sloth-slo-sli-recordings-{slo.id}", "interval": interval, "rules": sli},
            {"name": f"sloth-slo-meta-recordings-{slo.id}", "interval": interval, "rules": _meta_rules(slo)},
            {"name": f"sloth-slo-period-recordings-{slo.id}", "interval": PERIOD_GROUP_INTERVAL,
             "rules": _period_rules(slo)},
            {"name": f"sloth-slo-alerts-{slo.id}", "interval": interval, "rules": alerts},
        ]
    return out
