"""The SLA figures as gauges, from the tracker's latest published snapshot (never computed in ``collect()``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from exporter.sla.tracker import SlaTracker


class SlaCollector(Collector):
    """The month-to-date gauges from the latest published snapshot (never computed in ``collect()``)."""

    def __init__(self, tracker: SlaTracker) -> None:
        self._tracker = tracker

    def collect(self) -> Iterator[Metric]:
        snapshot = self._tracker.published
        services = snapshot.services if snapshot is not None else ()
        target = GaugeMetricFamily("tenant_exporter_sla_target_ratio", "The service's SLA target.",
                                   labels=["service"])
        uptime = GaugeMetricFamily("tenant_exporter_sla_uptime_month_to_date_ratio",
                                   "Uptime of the service this calendar month (UTC) so far; absent without data.",
                                   labels=["service"])
        ratio = GaugeMetricFamily("tenant_exporter_sla_error_budget_remaining_ratio",
                                  "Share of this month's error budget left (negative once overspent).",
                                  labels=["service"])
        seconds = GaugeMetricFamily("tenant_exporter_sla_error_budget_remaining_seconds",
                                    "Downtime left this month before the SLA is breached (negative once overspent).",
                                    labels=["service"])
        breaches = GaugeMetricFamily("tenant_exporter_sla_breaches_month_to_date",
                                     "Outage incidents (breaches) of the service this calendar month so far.",
                                     labels=["service"])
        unobserved = GaugeMetricFamily("tenant_exporter_sla_unobserved_month_to_date_seconds",
                                       "Time this calendar month since monitoring began that no replica observed "
                                       "the service (downtime under its `unobserved: down` policy).",
                                       labels=["service"])
        coverage = GaugeMetricFamily("tenant_exporter_sla_coverage_month_to_date_ratio",
                                     "Observed share of this calendar month since monitoring of the service began.",
                                     labels=["service"])
        for s in services:
            target.add_metric([s.service], float(s.target.ratio))
            unobserved.add_metric([s.service], s.unobserved_seconds)
            if s.coverage is not None:
                coverage.add_metric([s.service], float(s.coverage))
            if s.uptime is not None:
                uptime.add_metric([s.service], float(s.uptime))
            ratio.add_metric([s.service], s.budget_remaining_ratio)
            seconds.add_metric([s.service], s.budget_remaining_seconds)
            breaches.add_metric([s.service], s.breaches)
        detected = CounterMetricFamily("tenant_exporter_sla_breaches", "Breaches this process detected.",
                                       labels=["service"])
        for name in sorted({s.service for s in services} | set(self._tracker.detected)):
            detected.add_metric([name], self._tracker.detected.get(name, 0))
        yield from (target, uptime, ratio, seconds, breaches, detected, unobserved, coverage)
