"""The SLA report (``GET /api/monitoring/sla``): per service this calendar month, uptime against its
target, error budget, downtime and breaches, from the tracker's snapshot or from Prometheus."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from exporter.core.clock import Month, isoformat
from exporter.sla import models as m
from exporter.sla.accounting import ServiceSla
from exporter.sla.request_slos import SloFigures


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
        error_budget_minutes=_minutes(sla.budget_seconds), error_budget_remaining=round(sla.budget_remaining_ratio, 6),
        burn_rate=round(_burn(sla), 6), downtime_minutes=_minutes(sla.downtime_seconds),
        degraded_minutes=None if sla.degraded_seconds is None else _minutes(sla.degraded_seconds),
        observed_minutes=_minutes(sla.observed_seconds), unobserved_minutes=_minutes(sla.unobserved_seconds),
        coverage=pct(sla.coverage), unobserved_policy=sla.policy, budgeting_method="Timeslices",
        breaches_this_month=sla.breaches, breaches=breaches,
    )


def _burn(sla: ServiceSla) -> float:
    """Downtime's share of the counted period over the budget's share: 1 spends the budget by the month's end."""
    if sla.uptime is None:
        return 0.0
    return float((1 - sla.uptime) / Fraction(sla.target.budget))


def _slo_figures(f: SloFigures) -> m.SloFiguresOut:
    attainment = f.attainment
    return m.SloFiguresOut(
        valid_requests=f.valid, bad_requests=f.bad,
        attainment=None if attainment is None else round(attainment * 100, 4),
        compliant=f.compliant, error_budget_requests=round(f.budget_events, 3), error_budget_used_requests=f.bad,
        error_budget_remaining_requests=round(f.budget_events - f.bad, 3),
        error_budget_remaining=round(f.remaining_ratio, 6), burn_rate=round(f.burn_rate, 6),
    )


def slos_out(figures: Sequence[tuple[SloFigures, Sequence[SloFigures]]]) -> dict[str, m.SloOut]:
    out = {}
    for total, tenants in figures:
        slo = total.slo
        out[slo.id] = m.SloOut(
            service="api", slo=slo.name, sli=slo.sli, description=slo.description, objective=slo.objective.percent,
            threshold_ms=None if slo.threshold_seconds is None else round(slo.threshold_seconds * 1000, 3),
            budgeting_method="Occurrences", month_to_date=_slo_figures(total),
            tenants={t.tenant or "": _slo_figures(t) for t in tenants} if slo.per_tenant else None,
        )
    return out


def report(figures: Sequence[ServiceSla], overall: Fraction | None, month: Month, now: float, source: str,
           details: bool, slos: Sequence[tuple[SloFigures, Sequence[SloFigures]]] = ()) -> m.SlaOut:
    """The month's figures per service, with the breaches listed when ``details``."""
    with_data = [f.compliant for f in figures if f.compliant is not None]
    return m.SlaOut(
        services={f.service: _service_out(f, details, now) for f in figures},
        overall_uptime=pct(overall), month_to_date_compliance=all(with_data) if with_data else None,
        breaches_this_month=sum(f.breaches for f in figures), month=month.key,
        period_start=isoformat(month.start), period_end=isoformat(month.end), source=source,
        timestamp=isoformat(now), slos=slos_out(slos),
    )
