"""The signal table: what an alert rule in ``config/monitoring.yml`` can watch.

Each signal is defined twice, side by side: a PromQL expression over the exported metrics (it
becomes a recording rule in ``rules/``) and a Python computation over the in-process window
that applies the same operations (``promql.py``) in the same order. Adding a signal is one
entry in ``SIGNALS``. ``$job`` and ``$window`` are filled in from monitoring.yml.

Prometheus sees each replica as its own target. The request signals (response time, error rate)
are the fleet's: ``sum by (job, ...)`` over every replica, as one replica in-process sums the
fleet's window (``fleet.py``) or, alone, its own. The per-replica signals (CPU, memory, the API
probe) keep ``instance``: one series per replica on both sides.

Decisions, the same on both sides:
- ``response_time`` is the p95 over the window, by ``histogram_quantile``'s interpolation.
- No traffic is *absent*, not zero: 0/0 and the quantile of no observations are NaN, and the
  trailing ``>= 0`` drops NaN (NaN compares false), so nothing is recorded and nothing fires.
  A rule with ``operator: absent`` pages on that silence explicitly.
- An error ratio with traffic but no 5xx series at all is 0 (``or on(...) 0 * total``).
- Values are compared after ``round(value, unit.precision)`` (see ``Unit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from string import Template
from types import MappingProxyType
from typing import Final

from exporter.monitoring.promql import (
    Labels,
    Vector,
    avg_over_time,
    divide,
    filter_,
    histogram_quantile,
    matcher,
    or_,
    rate,
    scale,
    sum_by,
)
from exporter.monitoring.window import Window

REQUESTS: Final = "http_requests_total"
DURATION_BUCKETS: Final = "http_request_duration_seconds_bucket"
DURATION_SUM: Final = "http_request_duration_seconds_sum"
DURATION_COUNT: Final = "http_request_duration_seconds_count"
PROBE_SUCCESS: Final = "tenant_exporter_probe_success"
CPU: Final = "system_cpu_usage_ratio"
MEMORY: Final = "system_memory_usage_ratio"
SERVER_ERROR: Final = matcher(status="=~5..")
# The request-duration histogram's bucket bounds (seconds), owned here because thresholds and latency SLOs
# must fall on them: edges at 0.5 s and 1 s (the shipped thresholds), 1 and 2.5 ms (where most answers of this
# service fall, docs/performance.md). telemetry/http_metrics.py builds the histogram from this.
LATENCY_BOUNDS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Unit:
    """A signal's base unit, how people write thresholds in it, and the precision of comparisons.

    ``precision`` is what both evaluators round a value to (PromQL ``round(v, precision)``)
    before comparing it with a threshold: 1 ms for durations, 0.01 percentage points for ratios.
    Finer differences are float noise (``histogram_quantile`` gives 0.8749999999999998 for
    0.875; ``sum`` adds series in an order promtool randomises) and must not flip an alert.
    """

    name: str
    suffixes: Mapping[str, Decimal]  # suffix a threshold is written with -> its value in base units
    display: str  # the unit the JSON API shows
    display_scale: Decimal  # base units -> display units
    precision: Decimal
    example: str


SECONDS: Final = Unit("seconds", MappingProxyType({"ms": Decimal("0.001"), "s": Decimal(1)}), "ms",
                      Decimal(1000), Decimal("0.001"), "1000ms")
RATIO: Final = Unit("ratio", MappingProxyType({"%": Decimal("0.01")}), "%", Decimal(100), Decimal("0.0001"), "5%")

Compute = Callable[[Window, int, int], Vector]  # (window, t_ms, range_ms) -> {labels: value}


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    title: str  # for messages: "Response time (p95)"
    unit: Unit
    record: str  # recording rule name (level:metric:operations), with $window
    promql: str  # the recording rule's expression, with $job and $window
    compute: Compute  # the same expression over the in-process window
    selector: Labels = ()  # the series of the signal that alerts look at (uptime: service="api")

    @property
    def per_replica(self) -> bool:
        """One series per replica (``instance:`` level), else the fleet's (``job:``)."""
        return self.record.startswith("instance:")

    def record_name(self, window: str) -> str:
        return Template(self.record).substitute(window=window)

    def expression(self, job: str, window: str) -> str:
        return Template(self.promql).substitute(job=job, window=window)

    def evaluate(self, window: Window, t_ms: int, range_ms: int) -> Vector:
        """The signal's values at ``t_ms``, restricted to its selector."""
        values = self.compute(window, t_ms, range_ms)
        if not self.selector:
            return values
        return {labels: v for labels, v in values.items() if all(pair in labels for pair in self.selector)}


def _not_nan(value: float) -> bool:
    return value >= 0  # the PromQL `>= 0`: false for NaN (and a latency or ratio is never negative)


def _response_time_p95(w: Window, t: int, r: int) -> Vector:
    buckets = sum_by(rate(w.range(DURATION_BUCKETS, t, r), t, r), ("le",))
    return filter_(histogram_quantile(0.95, buckets), _not_nan)


def _error_ratio(w: Window, t: int, r: int) -> Vector:
    total = sum_by(rate(w.range(REQUESTS, t, r), t, r), ())
    errors = sum_by(rate(w.range(REQUESTS, t, r, SERVER_ERROR), t, r), ())
    return filter_(divide(or_(errors, scale(total, 0.0)), total), _not_nan)


def _gauge_average(name: str) -> Compute:
    def compute(w: Window, t: int, r: int) -> Vector:
        return avg_over_time(w.range(name, t, r))

    return compute


SIGNALS: Final[Mapping[str, Signal]] = MappingProxyType({s.name: s for s in (
    Signal(
        "response_time", "Response time (p95)", SECONDS,
        "job:http_request_duration_seconds:p95_rate$window",
        "histogram_quantile(0.95, sum by (job, le) ("
        'rate(http_request_duration_seconds_bucket{job="$job"}[$window])))\n>= 0',
        _response_time_p95,
    ),
    Signal(
        "error_rate", "Error rate (5xx)", RATIO,
        "job:http_requests_errors:ratio_rate$window",
        '(\n  sum by (job) (rate(http_requests_total{job="$job",status=~"5.."}[$window]))\n'
        '  or on (job)\n'
        '  0 * sum by (job) (rate(http_requests_total{job="$job"}[$window]))\n)\n'
        '/ on (job)\n'
        'sum by (job) (rate(http_requests_total{job="$job"}[$window]))\n>= 0',
        _error_ratio,
    ),
    Signal(
        "uptime", "Uptime (API probe)", RATIO,
        "instance:tenant_exporter_probe_success:avg_over_time$window",
        'avg_over_time(tenant_exporter_probe_success{job="$job"}[$window])',
        _gauge_average(PROBE_SUCCESS), selector=(("service", "api"),),
    ),
    Signal(
        "cpu", "CPU usage", RATIO,
        "instance:system_cpu_usage_ratio:avg_over_time$window",
        'avg_over_time(system_cpu_usage_ratio{job="$job"}[$window])',
        _gauge_average(CPU),
    ),
    Signal(
        "memory", "Memory usage", RATIO,
        "instance:system_memory_usage_ratio:avg_over_time$window",
        'avg_over_time(system_memory_usage_ratio{job="$job"}[$window])',
        _gauge_average(MEMORY),
    ),
)})

# Every sample name the Python definitions read, for the snapshotter.
SNAPSHOT_SAMPLES: Final = (REQUESTS, DURATION_BUCKETS, DURATION_SUM, DURATION_COUNT, PROBE_SUCCESS, CPU, MEMORY)
