"""The numbers behind ``/api/monitoring/health`` and ``/metrics``, computed from the window.

Same operations as PromQL would apply to the exported metrics (``promql.py``), so each figure
has a query that reproduces it in Prometheus or Grafana (written next to it). Base units
(seconds, ratios 0..1); the API layer converts to ms and %. ``None`` is "no data" (no request
in the window), never a made-up zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.monitoring.promql import Labels, Vector, divide, filter_, histogram_quantile, rate, sum_by
from exporter.monitoring.signals import (
    DURATION_BUCKETS,
    DURATION_COUNT,
    DURATION_SUM,
    REQUESTS,
    SERVER_ERROR,
    SIGNALS,
)
from exporter.monitoring.window import Window

ROUTE = ("method", "route")


@dataclass(frozen=True, slots=True)
class Latency:
    average: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class RouteStats:
    method: str
    route: str
    requests_per_second: float
    error_ratio: float | None
    latency: Latency


@dataclass(frozen=True, slots=True)
class ReplicaStats:
    """The per-replica signals of one replica (a fleet's evaluator sees every replica's)."""

    instance: str
    cpu_ratio: float | None
    memory_ratio: float | None
    uptime_ratio: float | None


@dataclass(frozen=True, slots=True)
class MonitorView:
    t: float  # Unix seconds of the evaluation
    window_seconds: float
    requests_per_second: float | None
    error_ratio: float | None
    uptime_ratio: float | None
    cpu_ratio: float | None
    memory_ratio: float | None
    latency: Latency
    routes: tuple[RouteStats, ...]
    replicas: tuple[ReplicaStats, ...] = ()  # by instance, when the window's series carry one


def _present(value: float) -> bool:
    return value >= 0  # drops NaN, as the signals' `>= 0` does


def _latency(w: Window, t: int, r: int, by: tuple[str, ...]) -> dict[Labels, Latency]:
    """avg = sum by (by) (rate(_sum)) / sum by (by) (rate(_count)); pXX = histogram_quantile over sum by (by, le)."""
    buckets = sum_by(rate(w.range(DURATION_BUCKETS, t, r), t, r), (*by, "le"))
    average = filter_(divide(sum_by(rate(w.range(DURATION_SUM, t, r), t, r), by),
                             sum_by(rate(w.range(DURATION_COUNT, t, r), t, r), by)), _present)
    quantiles = {q: filter_(histogram_quantile(q, buckets), _present) for q in (0.5, 0.95, 0.99)}
    keys = set(average) | {k for v in quantiles.values() for k in v}
    return {k: Latency(average.get(k), quantiles[0.5].get(k), quantiles[0.95].get(k), quantiles[0.99].get(k))
            for k in keys}


def _one(vector: Vector) -> float | None:
    return next(iter(vector.values()), None)


def _by_instance(vector: Vector) -> dict[str, float]:
    return {instance: value for labels, value in vector.items() if (instance := dict(labels).get("instance"))}


def _replicas(per: dict[str, Vector]) -> tuple[ReplicaStats, ...]:
    """The per-replica signals by replica (none when the series carry no ``instance``: one replica alone)."""
    by = {name: _by_instance(vector) for name, vector in per.items() if SIGNALS[name].per_replica}
    instances = sorted({i for values in by.values() for i in values})
    return tuple(ReplicaStats(i, by["cpu"].get(i), by["memory"].get(i), by["uptime"].get(i)) for i in instances)


def compute_view(w: Window, t_ms: int, range_ms: int) -> MonitorView:
    requests = rate(w.range(REQUESTS, t_ms, range_ms), t_ms, range_ms)
    errors = rate(w.range(REQUESTS, t_ms, range_ms, SERVER_ERROR), t_ms, range_ms)
    per_route_total = sum_by(requests, ROUTE)
    per_route_errors = sum_by(errors, ROUTE)
    per_route_latency = _latency(w, t_ms, range_ms, ROUTE)
    routes = []
    for labels, rps in sorted(per_route_total.items()):
        d = dict(labels)
        error_ratio = per_route_errors.get(labels, 0.0) / rps if rps > 0 else None
        latency = per_route_latency.get(labels, Latency(None, None, None, None))
        routes.append(RouteStats(d.get("method", ""), d.get("route", ""), rps, error_ratio, latency))
    total = sum_by(requests, ())
    overall = _latency(w, t_ms, range_ms, ()).get((), Latency(None, None, None, None))
    per = {name: SIGNALS[name].evaluate(w, t_ms, range_ms) for name in ("error_rate", "uptime", "cpu", "memory")}
    # one series per replica when the window holds several (monitoring/fleet.py): the worst of them
    return MonitorView(
        t=t_ms / 1000, window_seconds=range_ms / 1000, requests_per_second=total.get(()),
        error_ratio=_one(per["error_rate"]), uptime_ratio=min(per["uptime"].values(), default=None),
        cpu_ratio=max(per["cpu"].values(), default=None), memory_ratio=max(per["memory"].values(), default=None),
        latency=overall, routes=tuple(routes), replicas=_replicas(per),
    )
