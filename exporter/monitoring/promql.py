"""The few PromQL operations the signals use, computed exactly as Prometheus 2.42 computes them.

Each function mirrors one PromQL function or operator, float operation for float operation, so
that a signal's Python definition reads like its PromQL twin (``signals.py``) and gives the same
number. Pure functions, no I/O. Sources: ``promql/functions.go`` (``extrapolatedRate``,
``funcAvgOverTime``, ``funcRound``) and ``promql/quantile.go`` (``bucketQuantile``) at v2.42.

- Timestamps are integer milliseconds, as in Prometheus; a range ``[t - r, t]`` is closed at both
  ends (Prometheus 3.0 made it left-open; pin 2.42 or revisit ``in_range``).
- ``rate()`` extrapolates towards the range boundaries (and never below a counter's zero point).
  In a ratio of two rates over series sampled together the factors are equal and cancel.
- Vectors are ``{labels: value}`` with labels a sorted tuple of pairs (``__name__`` dropped by
  functions, as PromQL drops it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

Labels = tuple[tuple[str, str], ...]
Sample = tuple[int, float]  # (timestamp in ms, value)
RangeVector = Mapping[Labels, Sequence[Sample]]
Vector = dict[Labels, float]

NAME: Final = "__name__"
_NAN: Final = math.nan


def without(labels: Labels, *names: str) -> Labels:
    return tuple(pair for pair in labels if pair[0] not in names)


def matcher(**expected: str) -> Callable[[Labels], bool]:
    """Label matchers: ``status="=~5.."`` is a fully anchored regex (as PromQL's ``=~``), else equality."""
    checks = [
        (name, re.compile(want[2:]) if want.startswith("=~") else None, want) for name, want in expected.items()
    ]

    def match(labels: Labels) -> bool:
        d = dict(labels)
        for name, pattern, want in checks:
            value = d.get(name, "")
            if (pattern.fullmatch(value) is None) if pattern is not None else value != want:
                return False
        return True

    return match


# --- range functions ------------------------------------------------------------------------------

def extrapolated_rate(samples: Sequence[Sample], start_ms: int, end_ms: int, *, is_rate: bool = True) -> float | None:
    """``rate()`` (or ``increase()``) of one counter series over ``[start_ms, end_ms]``; None below 2 samples."""
    if len(samples) < 2:
        return None
    first_t, first_v = samples[0]
    last_t, last_v = samples[-1]
    result = last_v - first_v
    prev = first_v
    for _, value in samples[1:]:
        if value < prev:  # a counter reset: the counter restarted from zero
            result += prev
        prev = value
    duration_to_start = float(first_t - start_ms) / 1000
    duration_to_end = float(end_ms - last_t) / 1000
    sampled_interval = float(last_t - first_t) / 1000
    average_between = sampled_interval / float(len(samples) - 1)
    if result > 0 and first_v >= 0:
        # Counters cannot be negative: extrapolate no further back than the zero point (2.42 order:
        # the zero point first, then the threshold below).
        duration_to_zero = sampled_interval * (first_v / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average_between * 1.1
    extrapolate_to = sampled_interval
    extrapolate_to += duration_to_start if duration_to_start < threshold else average_between / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average_between / 2
    factor = extrapolate_to / sampled_interval
    if is_rate:
        factor /= float(end_ms - start_ms) / 1000
    return result * factor


def rate(series: RangeVector, t_ms: int, range_ms: int) -> Vector:
    """``rate(metric[range])`` evaluated at ``t_ms``; the metric name is dropped."""
    out: Vector = {}
    for labels, samples in _ordered(series):
        value = extrapolated_rate(samples, t_ms - range_ms, t_ms)
        if value is not None:
            out[without(labels, NAME)] = value
    return out


def avg_over_time(series: RangeVector) -> Vector:
    """``avg_over_time(metric[range])``: 2.42's incremental mean with Kahan-Neumaier compensation."""
    out: Vector = {}
    for labels, samples in _ordered(series):
        if not samples:
            continue
        mean, count, c = 0.0, 0.0, 0.0
        for _, value in samples:
            count += 1
            if math.isinf(mean):
                if math.isinf(value) and (mean > 0) == (value > 0):
                    continue
                if not math.isinf(value) and not math.isnan(value):
                    continue
            mean, c = _kahan_sum_inc(value / count - mean / count, mean, c)
        out[without(labels, NAME)] = mean if math.isinf(mean) else mean + c
    return out


def _kahan_sum_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def _ordered(series: RangeVector) -> list[tuple[Labels, Sequence[Sample]]]:
    """Series in the order Prometheus's storage returns them (sorted by label set)."""
    return sorted(series.items(), key=lambda item: item[0])


# --- aggregation and binary operators ------------------------------------------------------------

def sum_by(vector: Vector, by: Iterable[str]) -> Vector:
    """``sum by (labels) (vector)``: added in input order, as 2.42 does (no Kahan summation)."""
    keep = frozenset(by)
    out: Vector = {}
    for labels, value in vector.items():
        key = tuple(pair for pair in labels if pair[0] in keep)
        out[key] = out[key] + value if key in out else value
    return out


def divide(left: Vector, right: Vector) -> Vector:
    """``left / on(<all labels>) right``, one-to-one, with IEEE semantics (0/0 is NaN, x/0 is ±Inf)."""
    return {labels: _div(a, right[labels]) for labels, a in left.items() if labels in right}


def _div(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return _NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def scale(vector: Vector, factor: float) -> Vector:
    """``factor * vector``."""
    return {labels: factor * value for labels, value in vector.items()}


def or_(left: Vector, right: Vector) -> Vector:
    """``left or on(<all labels>) right``: every element of left, plus right's that left lacks."""
    out = dict(left)
    for labels, value in right.items():
        out.setdefault(labels, value)
    return out


def filter_(vector: Vector, keep: Callable[[float], bool]) -> Vector:
    """A comparison without ``bool`` (``vector >= 0``): keeps the elements for which it holds.

    NaN compares false with everything, so ``>= 0`` drops NaN (0/0, a quantile of nothing).
    """
    return {labels: value for labels, value in vector.items() if keep(value)}


# --- functions on instant vectors -----------------------------------------------------------------

def histogram_quantile(q: float, vector: Vector) -> Vector:
    """``histogram_quantile(q, vector)`` over classic ``le`` buckets, grouped by the other labels."""
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, count in vector.items():
        le = dict(labels).get("le")
        if le is None:
            continue
        try:
            upper = _parse_float(le)
        except ValueError:
            continue
        groups.setdefault(without(labels, "le", NAME), []).append((upper, count))
    return {labels: bucket_quantile(q, buckets) for labels, buckets in groups.items()}


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's ``bucketQuantile``: linear interpolation inside the bucket holding the rank.

    NaN for no observations, fewer than 2 buckets or no ``+Inf`` bucket; ±Inf for q outside
    [0, 1]; the second-highest bound when the rank falls in ``+Inf``; a lower bound of 0 for the
    first bucket unless its bound is <= 0.
    """
    if math.isnan(q):
        return _NAN
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return _NAN
    coalesced: list[list[float]] = []
    for upper, count in ordered:  # merge buckets with the same bound
        if coalesced and coalesced[-1][0] == upper:
            coalesced[-1][1] += count
        else:
            coalesced.append([upper, count])
    highest = -math.inf
    for bucket in coalesced:  # ensureMonotonic
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(coalesced) < 2:
        return _NAN
    observations = coalesced[-1][1]
    if observations == 0:
        return _NAN
    rank = q * observations
    b = next((i for i in range(len(coalesced) - 1) if coalesced[i][1] >= rank), len(coalesced) - 1)
    if b == len(coalesced) - 1:
        return coalesced[-2][0]
    if b == 0 and coalesced[0][0] <= 0:
        return coalesced[0][0]
    bucket_start = 0.0
    bucket_end = coalesced[b][0]
    count = coalesced[b][1]
    if b > 0:
        bucket_start = coalesced[b - 1][0]
        count -= coalesced[b - 1][1]
        rank -= coalesced[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


def prom_round(value: float, to_nearest: float) -> float:
    """PromQL ``round(v, to_nearest)``: ``floor(v * (1/to_nearest) + 0.5) / (1/to_nearest)``; ties round up."""
    inverse = 1.0 / to_nearest
    if math.isnan(value) or math.isinf(value):
        return value
    return math.floor(value * inverse + 0.5) / inverse


def _parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat`` for the forms a ``le`` label takes (``+Inf``, ``0.5``, ``1e3``)."""
    lowered = text.strip().lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return _NAN
    return float(text)
