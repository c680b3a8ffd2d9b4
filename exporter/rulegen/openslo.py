"""Every SLO of monitoring.yml as OpenSLO ``openslo/v1`` documents (``rules generate --format openslo``).

One ``Service`` per probed service and one ``SLO`` per SLO, each SLO with its indicator inline
(``ratioMetric``: the bad and total counters, as PromQL over the job, the queries of
``rules/slo.yml``) and a calendar-month ``timeWindow`` (``1M``, UTC: the period ``/sla`` reports,
OpenSLO#267). The budgeting methods are the service's own: a probe SLO is *Timeslices* (each probe
interval one slice, good when the probe succeeds), a request SLO *Occurrences*. The burn-rate alerts
stay Prometheus rules: OpenSLO's ``AlertCondition`` has one lookback window, not the two each tier
needs.
"""

from __future__ import annotations

from typing import Any, Final

from exporter.core.durations import format_duration
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.services import ServiceConfig
from exporter.monitoring.slos import SERVICE, RequestSlo
from exporter.rulegen.slo import ERRORS, EVENTS, literal, sloth_id

API_VERSION: Final = "openslo/v1"
MONTH_START: Final = "2020-01-01 00:00:00"  # any first of a month: the window is calendar months (1M)


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _window() -> list[dict[str, Any]]:
    return [{"duration": "1M", "isRolling": False, "calendar": {"startTime": MONTH_START, "timeZone": "UTC"}}]


def _service(service: ServiceConfig) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Service",
            "metadata": {"name": service.name, "displayName": service.title},
            "spec": {"description": service.description}}


def _probe_slo(service: ServiceConfig, job: str) -> dict[str, Any]:
    selector = f'{{job="{job}",service="{service.name}"}}'
    indicator = {"metadata": {"name": f"{sloth_id(service)}-sli"},
                 "spec": {"ratioMetric": {"counter": True, "bad": _source(f"sum({ERRORS}{selector})"),
                                          "total": _source(f"sum({EVENTS}{selector})")}}}
    return {"apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": sloth_id(service), "displayName": f"{service.title} availability"},
            "spec": {"description": f"Successful probes of {service.title}, each standing for its interval.",
                     "service": service.name, "indicator": indicator, "timeWindow": _window(),
                     "budgetingMethod": "Timeslices",
                     "objectives": [{"displayName": "availability", "target": float(service.target.ratio),
                                     "timeSliceTarget": 1, "timeSliceWindow": format_duration(service.interval_ms)}]}}


def _request_counters(slo: RequestSlo, job: str) -> tuple[str, str]:
    """(bad, total) as counters (``counter: true``: the reader takes their increase over its window)."""
    by = " by (tenant)" if slo.per_tenant else ""
    if slo.sli == "requests":
        return (f'sum{by}(http_requests_total{{job="{job}",status=~"5.."}})',
                f'sum{by}(http_requests_total{{job="{job}"}})')
    total = f'sum(http_request_duration_seconds_count{{job="{job}"}})'
    good = f'sum(http_request_duration_seconds_bucket{{job="{job}",le="{slo.le}"}})'
    return f"{total} - {good}", total


def _request_slo(slo: RequestSlo, job: str) -> dict[str, Any]:
    bad, total = _request_counters(slo, job)
    indicator = {"metadata": {"name": f"{slo.id}-sli"},
                 "spec": {"ratioMetric": {"counter": True, "bad": _source(bad), "total": _source(total)}}}
    return {"apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": slo.id, "displayName": f"API {slo.name}"},
            "spec": {"description": slo.description, "service": SERVICE, "indicator": indicator,
                     "timeWindow": _window(), "budgetingMethod": "Occurrences",
                     "objectives": [{"displayName": slo.name, "target": float(literal(slo.objective.ratio))}]}}


def documents(monitoring: MonitoringConfig) -> list[dict[str, Any]]:
    """The Services, then the SLOs: probe SLOs in config order, then the request SLOs."""
    return [*(_service(s) for s in monitoring.services),
            *(_probe_slo(s, monitoring.job) for s in monitoring.services),
            *(_request_slo(s, monitoring.job) for s in monitoring.slos)]
