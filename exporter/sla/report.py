"""The SLA report (``GET /api/monitoring/sla``): per service this calendar month, uptime against its
target, error budget, downtime and breaches, from the tracker's snapshot or from Prometheus."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from exporter.core.clock import Month, isoformat
from exporter.sla import models as m
from exporter.sla.accounting import ServiceSla


def pct(ratio: Fraction | None) -> float | None:
    return None if ratio is None else round(float(ratio) * 100, 4)


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 3)


def _service_out(sla: ServiceSla, details: bool, now: float) -> m.ServiceSlaOut:
    breaches = [m.BreachOut(b.id, isoformat(b.started_at), None if b.ended_at is None else isoformat(b.ended_at),
                            _minutes(b.duration_seconds(now)), b.ongoing, b.failures, b.detail,
                            "unobserved" if b.failures == 0 else "probes")
                for b in sla.breach_list] if details else None
    return m.ServiceSlaOut(
        uptime=pct(sla.uptime), sla_target=sla.target.percent, compliant=sla.compliant,
        error_budget_remaining_minutes=_minutes(sla.budget_remaining_seconds),
        error_budget_minutes=_minutes(sla.budget_seconds), downtime_minutes=_minutes(sla.downtime_seconds),
        degraded_minutes=None if sla.degraded_seconds is None else _minutes(sla.degraded_seconds),
        observed_minutes=_minutes(sla.observed_seconds), unobserved_minutes=_minutes(sla.unobserved_seconds),
        coverage=pct(sla.coverage), unobserved_policy=sla.policy, budgeting_method="Timeslices",
        breaches_this_month=sla.breaches, breaches=breaches,
    )


def report(figures: Sequence[ServiceSla], overall: Fraction | None, month: Month, now: float, source: str,
           details: bool) -> m.SlaOut:
    """The month's figures per service, with the breaches listed when ``details``."""
    with_data = [f.compliant for f in figures if f.compliant is not None]
    return m.SlaOut(
        services={f.service: _service_out(f, details, now) for f in figures},
        overall_uptime=pct(overall), month_to_date_compliance=all(with_data) if with_data else None,
        breaches_this_month=sum(f.breaches for f in figures), month=month.key,
        period_start=isoformat(month.start), period_end=isoformat(month.end), source=source,
        timestamp=isoformat(now),
    )
