"""Request telemetry: RED metrics, recorded by the first and last step of the request pipeline
(``http/pipeline.py``), so they see the status the client gets.

Labels are bounded by construction: ``route`` is the aiohttp route template (one value for
every unmatched path), ``method`` is one of the standard methods or ``_OTHER``, ``tenant``
comes from the catalog (``none`` before authentication). On top of that every family has a
hard cap on label sets; past it, new sets collapse into ``__overflow__`` and
``tenant_exporter_metrics_series_overflow_total`` says so. Metric code runs in its own
``try``: it can never change or break a response.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.monitoring.signals import LATENCY_BOUNDS
from exporter.telemetry.families import LoopCounter, LoopHistogram, OverflowCollector

log = logging.getLogger(__name__)

# Edges at 0.5 s and 1 s: the warning and error thresholds in config/monitoring.yml; below 5 ms,
# 1 and 2.5 ms, where most answers of this service fall (docs/performance.md). Latency SLOs must use one.
DURATION_BUCKETS: Final = LATENCY_BOUNDS
SIZE_BUCKETS: Final = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
DURATION_BOUNDS: Final = tuple(float(b) for b in DURATION_BUCKETS)  # as LoopHistogram keeps them
SIZE_BOUNDS: Final = tuple(float(b) for b in SIZE_BUCKETS)
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
OTHER_METHOD: Final = "_OTHER"
UNMATCHED: Final = "__unmatched__"
OVERFLOW: Final = "__overflow__"
NO_TENANT: Final = "none"
CLIENT_CLOSED: Final = 499


class HttpMetrics:
    """The HTTP families (plain data, see ``loop_metrics``) and the cardinality guard."""

    def __init__(self, registry: CollectorRegistry, *, max_series: int = 2000) -> None:
        over2 = (OVERFLOW, OVERFLOW)
        self.requests = LoopCounter(
            "http_requests", "HTTP requests answered, by method, route template, status and tenant.",
            ("method", "route", "status", "tenant"), max_series=max_series, overflow=(OVERFLOW,) * 4,
        )
        self.duration = LoopHistogram(
            "http_request_duration_seconds", "Time from receiving a request to its answer being ready.",
            ("method", "route"), DURATION_BUCKETS, max_series=max_series, overflow=over2,
        )
        self.request_size = LoopHistogram(
            "http_request_size_bytes", "Size of request bodies.", ("method", "route"), SIZE_BUCKETS,
            max_series=max_series, overflow=over2,
        )
        self.response_size = LoopHistogram(
            "http_response_size_bytes", "Size of response bodies.", ("method", "route"), SIZE_BUCKETS,
            max_series=max_series, overflow=over2,
        )
        for family in (self.requests, self.duration, self.request_size, self.response_size):
            registry.register(family)
        registry.register(OverflowCollector({
            "http_requests_total": self.requests, "http_request_duration_seconds": self.duration,
            "http_request_size_bytes": self.request_size, "http_response_size_bytes": self.response_size,
        }))
        self._counts = self.requests.counts
        self._route_states: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
        self.active = 0
        Gauge("http_requests_in_flight", "HTTP requests being served now.",
              registry=registry).set_function(lambda: self.active)
        self.errors = Counter(
            "tenant_exporter_instrumentation_errors_total",
            "Failures inside request instrumentation (the response was not affected).", registry=registry,
        )

    def _first_seen(self, method: str, route: str, status: int, tenant: str, seconds: float,
                    request_bytes: int, response_bytes: int) -> None:
        key = (method, route)
        self.requests.inc((method, route, str(status), tenant))
        self.duration.observe(key, seconds)
        self.request_size.observe(key, request_bytes)
        self.response_size.observe(key, response_bytes)
        families = (self.duration.series, self.request_size.series, self.response_size.series)
        if all(key in series for series in families):
            self._route_states[key] = (families[0][key], families[1][key], families[2][key])

    def observe(self, method: str, route: str, status: int, tenant: str, seconds: float,
                request_bytes: int, response_bytes: int) -> None:
        """Count one answered request that was never counted in flight (``finish`` without ``active``)."""
        self.active += 1
        self.finish(method, route, status, tenant, seconds, request_bytes, response_bytes)

    def finish(self, method: str, route: str, status: int, tenant: str, seconds: float,
               request_bytes: int, response_bytes: int) -> None:
        """Count one answered request (no longer in flight); never raises (a failure is counted and logged).

        Every request runs this (docs/performance.md): a label set seen before costs a lookup of its
        three bucket lists and of its count, and a ``bisect`` per histogram (none for an empty body)."""
        try:
            self.active -= 1
            if method not in METHODS:
                method = OTHER_METHOD
            states = self._route_states.get((method, route))
            if states is None:  # a label set seen for the first time, or one that overflowed
                self._first_seen(method, route, status, tenant, seconds, request_bytes, response_bytes)
                return
            counted = (method, route, str(status), tenant)
            counts = self._counts
            count = counts.get(counted)
            if count is None:
                self.requests.inc(counted)
            else:
                counts[counted] = count + 1.0
            # the three histograms' own bucket lists for this label set: one lookup instead of three
            duration, received, sent = states
            duration[bisect_left(DURATION_BOUNDS, seconds)] += 1
            duration[-1] += seconds
            if request_bytes:
                received[bisect_left(SIZE_BOUNDS, request_bytes)] += 1
                received[-1] += request_bytes
            else:
                received[0] += 1
            sent[bisect_left(SIZE_BOUNDS, response_bytes)] += 1
            sent[-1] += response_bytes
        except Exception:  # instrumentation must never break a response
            self.errors.inc()
            log.exception("request instrumentation failed")
