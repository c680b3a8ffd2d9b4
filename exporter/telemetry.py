"""Request telemetry: RED metrics recorded by the outermost middleware.

Labels are bounded by construction: ``route`` is the aiohttp route template (one value for
every unmatched path), ``method`` is one of the standard methods or ``_OTHER``, ``tenant``
comes from the catalog (``none`` before authentication). On top of that every family has a
hard cap on label sets; past it, new sets collapse into ``__overflow__`` and
``tenant_exporter_metrics_series_overflow_total`` says so. Metric code runs in its own
``try``: it can never change or break a response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.auth import TENANT, Handler
from exporter.loop_metrics import LoopCounter, LoopHistogram, OverflowCollector

log = logging.getLogger(__name__)

# Edges at 0.5 s and 1 s: the warning and error thresholds in config/monitoring.yml.
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS: Final = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
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
        self.active = 0
        Gauge("http_requests_in_flight", "HTTP requests being served now.",
              registry=registry).set_function(lambda: self.active)
        self.errors = Counter(
            "tenant_exporter_instrumentation_errors_total",
            "Failures inside request instrumentation (the response was not affected).", registry=registry,
        )

    def observe(self, method: str, route: str, status: int, tenant: str, seconds: float,
                request_bytes: int, response_bytes: int) -> None:
        self.requests.inc((method, route, str(status), tenant))
        key = (method, route)
        self.duration.observe(key, seconds)
        self.request_size.observe(key, request_bytes)
        self.response_size.observe(key, response_bytes)

    def series_count(self) -> int:
        return len(self.requests.counts) + len(self.duration.series)


def route_of(request: web.Request) -> str:
    """The route template (``/api/tenant/feature/{feature_name}``), never the raw path."""
    try:
        resource = request.match_info.route.resource
    except AttributeError:
        return UNMATCHED
    return UNMATCHED if resource is None else resource.canonical


def _response_bytes(response: web.StreamResponse | None) -> int:
    if response is None:
        return 0
    if response.prepared:
        return response.body_length
    return response.content_length or 0


def telemetry_middleware(metrics: HttpMetrics, exclude: Collection[str] = ("/metrics",)) -> Any:
    excluded = frozenset(exclude)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route in excluded or request.path in excluded:
            return await handler(request)
        start = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        metrics.active += 1
        try:
            response = await handler(request)
            status = response.status
            transport = request.transport
            if transport is None or transport.is_closing():
                status = CLIENT_CLOSED  # the client went away; nobody will read this answer
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            try:
                metrics.active -= 1
                method = request.method if request.method in METHODS else OTHER_METHOD
                tenant = request[TENANT].id if TENANT in request else NO_TENANT
                metrics.observe(method, route, status, tenant, time.perf_counter() - start,
                                request.content_length or 0, _response_bytes(response))
            except Exception:  # instrumentation must never break a response
                metrics.errors.inc()
                log.exception("request instrumentation failed")

    return middleware
