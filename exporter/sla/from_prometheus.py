"""The same month-to-date SLA figures, computed by Prometheus from the probe counters (``?source=prometheus``).

The range is the calendar month so far, ``[month start, now]``, as one range selector in
seconds. Observed time and downtime are ``increase()`` of
``tenant_exporter_probe_observed_seconds_total`` and ``..._probe_downtime_seconds_total`` (a
result adds its interval to both, or only to the first), pooled across replicas the way the
service pools its observers: the share of downtime (sums) applied to the best-covered replica
(max). Breaches are ``increase()`` of ``tenant_exporter_sla_breaches_total`` (the most any replica
saw), rounded. Degraded time and the breach list exist only in the service's own records.

``increase()`` extrapolates to the range's edges and Prometheus has the samples of its last scrape,
not of this instant: over a month the two sources differ by well under a scrape interval of
downtime; ``tests/test_e2e_sla.py`` bounds the difference. Prometheus must keep more than a month
of data (``--storage.tsdb.retention.time=35d``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from exporter.core.clock import Month
from exporter.core.errors import BadGateway
from exporter.core.outbound import HttpClient, OutboundError
from exporter.monitoring.services import ServiceConfig
from exporter.sla.accounting import ServiceSla, month_budget_seconds

TIMEOUT = 10.0  # seconds for one query


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
    try:
        async with asyncio.timeout(TIMEOUT):
            answer = await client.request("GET", f"{base_url.rstrip('/')}/api/v1/query",
                                          params={"query": expr, "time": f"{at:.3f}"})
        body: Any = answer.json()
    except (OutboundError, TimeoutError, ValueError) as e:
        raise BadGateway(f"Prometheus did not answer: {type(e).__name__}: {e}",
                         slug="prometheus-unavailable") from e
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise BadGateway(f"Prometheus refused the query: {error}", slug="prometheus-unavailable")
    out: dict[str, float] = {}
    for item in body["data"]["result"]:
        out[item["metric"].get("service", "")] = float(item["value"][1])
    return out


async def month_from_prometheus(client: HttpClient, base_url: str, job: str,
                                services: Sequence[ServiceConfig], now: float) -> list[ServiceSla]:
    """The month-to-date figures of every service, as Prometheus computes them at ``now``."""
    month = Month.of(now)
    range_seconds = max(1, int(now - month.start))
    values = {name: await _query(client, base_url, expr, now) for name, expr in queries(job, range_seconds).items()}
    out = []
    for service in services:
        total = values["observed_sum"].get(service.name, 0.0)
        best = values["observed_max"].get(service.name, 0.0)
        down = values["down_sum"].get(service.name, 0.0) * (best / total) if total > 0 else 0.0
        uptime = None if total <= 0 else 1 - Fraction(values["down_sum"].get(service.name, 0.0)) / Fraction(total)
        budget = month_budget_seconds(service.target, month)
        out.append(ServiceSla(
            service=service.name, target=service.target, month=month, observed_seconds=best, downtime_seconds=down,
            degraded_seconds=None, uptime=uptime,
            compliant=None if uptime is None else uptime >= Fraction(service.target.ratio),
            budget_seconds=budget, budget_remaining_seconds=budget - down,
            breaches=int(values["breaches"].get(service.name, 0.0)),
        ))
    return out
