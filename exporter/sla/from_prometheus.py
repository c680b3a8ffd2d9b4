"""The same month-to-date SLA figures, computed by Prometheus from the probe counters (``?source=prometheus``).

The range is the calendar month so far, ``[month start, now]``, as one range selector in
seconds. Observed time and downtime are ``increase()`` of
``tenant_exporter_probe_observed_seconds_total`` and ``..._probe_downtime_seconds_total`` (a
result adds its interval to both, or only to the first), pooled across replicas the way the
service pools its observers: the share of downtime (sums) applied to the best-covered replica
(max). Breaches are ``increase()`` of ``tenant_exporter_sla_breaches_total`` (the most any replica
saw), rounded. Unobserved time and the breaches it makes come from ``up`` (``prometheus_up.py``:
failed scrapes and missing samples alike), and count under each service's policy as in the
service's own figures. Degraded time and the breach list exist only in the service's records.

``increase()`` extrapolates to the range's edges and Prometheus has the samples of its last scrape,
not of this instant: over a month the two sources differ by well under a scrape interval of
downtime; ``tests/test_e2e_sla.py`` bounds the difference. Prometheus must keep more than a month
of data (``--storage.tsdb.retention.time=35d``).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from exporter.core.clock import Month
from exporter.core.outbound import HttpClient
from exporter.monitoring.services import ServiceConfig, SlaSettings
from exporter.monitoring.slos import RequestSlo
from exporter.sla.accounting import Pooled, ServiceSla, month_budget_seconds
from exporter.sla.prometheus_up import get_json, up_coverage
from exporter.sla.request_slos import SloFigures


def queries(job: str, range_seconds: int) -> dict[str, str]:
    def increase(metric: str) -> str:
        return f'increase({metric}{{job="{job}"}}[{range_seconds}s])'

    observed, down = (increase("tenant_exporter_probe_observed_seconds_total"),
                      increase("tenant_exporter_probe_downtime_seconds_total"))
    return {
        "observed_sum": f"sum by (service) ({observed})",
        "observed_max": f"max by (service) ({observed})",
        "down_sum": f"sum by (service) ({down})",
        "breaches": f"round(max by (service) ({increase('tenant_exporter_sla_breaches_total')}))",
    }


async def _query(client: HttpClient, base_url: str, expr: str, at: float) -> dict[str, float]:
    """An instant query at ``at``; ``{service: value}``."""
    data = await get_json(client, f"{base_url.rstrip('/')}/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
    return {item["metric"].get("service", ""): float(item["value"][1]) for item in data["result"]}


async def month_from_prometheus(client: HttpClient, base_url: str, job: str, services: Sequence[ServiceConfig],
                                sla: SlaSettings, now: float) -> list[ServiceSla]:
    """The month-to-date figures of every service, as Prometheus computes them at ``now``."""
    month = Month.of(now)
    range_seconds = max(1, int(now - month.start))
    values = {name: await _query(client, base_url, expr, now) for name, expr in queries(job, range_seconds).items()}
    up = await up_coverage(client, base_url, job, month.start, now, sla.breach_min_duration_ms)
    out = []
    for service in services:
        total = values["observed_sum"].get(service.name, 0.0)
        best = values["observed_max"].get(service.name, 0.0)
        down = values["down_sum"].get(service.name, 0.0) * (best / total) if total > 0 else 0.0
        pooled = Pooled(Fraction(best), Fraction(down), unobserved=Fraction(up.unobserved_seconds))
        period, counted = pooled.counted(service.unobserved)
        uptime = None if period <= 0 else 1 - counted / period
        budget = month_budget_seconds(service.target, month)
        gap_breaches = up.gap_breaches if service.unobserved == "down" else 0
        elapsed = Fraction(0.0 if up.began is None else now - up.began)
        coverage = None if elapsed <= 0 else max(Fraction(0), 1 - Fraction(up.unobserved_seconds) / elapsed)
        out.append(ServiceSla(
            service=service.name, target=service.target, month=month, observed_seconds=best,
            downtime_seconds=float(counted), degraded_seconds=None, uptime=uptime,
            compliant=None if uptime is None else uptime >= Fraction(service.target.ratio),
            budget_seconds=budget, budget_remaining_seconds=budget - float(counted),
            breaches=int(values["breaches"].get(service.name, 0.0)) + gap_breaches,
            unobserved_seconds=up.unobserved_seconds,
            coverage=coverage, policy=service.unobserved,
        ))
    return out


async def slos_from_prometheus(client: HttpClient, base_url: str, job: str, slos: Sequence[RequestSlo], now: float,
                               ) -> list[tuple[SloFigures, list[SloFigures]]]:
    """The request SLOs' month to date from the request counters Prometheus scraped (``increase()``, rounded)."""
    window = f"{max(1, int(now - Month.of(now).start))}s"
    out: list[tuple[SloFigures, list[SloFigures]]] = []
    for slo in slos:
        valid = await _query(client, base_url, slo.total(job, window), now)
        bad = await _query(client, base_url, slo.errors(job, window), now)
        counts = {key: (round(v), round(bad.get(key, 0.0))) for key, v in valid.items()}
        tenants = [SloFigures(slo, tenant, v, b) for tenant, (v, b) in sorted(counts.items())] if slo.per_tenant \
            else []
        total = SloFigures(slo, None, sum(v for v, _ in counts.values()), sum(b for _, b in counts.values()))
        out.append((total, tenants))
    return out
