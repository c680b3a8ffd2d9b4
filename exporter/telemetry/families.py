"""Counters and histograms for the request path, kept as plain Python data on the event loop.

prometheus_client's labelled metrics guard every value with a lock and build a child object
per label set; its ``collect()`` costs ~8 us per series. Request telemetry is written only from
the event loop, so it needs neither: an observation here is a dict lookup, a ``bisect`` and two
additions, and ``collect()`` (also on the loop, see ``exposition.py``) builds the family from
the numbers as they are. Each family has a hard cap on label sets; past it, observations go to
the ``overflow`` label set and ``overflowed`` counts them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Key = tuple[str, ...]


class LoopCounter(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str], *, max_series: int,
                 overflow: Key) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.max_series, self.overflow_key = max_series, overflow
        self.counts: dict[Key, float] = {}
        self.overflowed = 0

    def inc(self, key: Key, amount: float = 1.0) -> None:
        counts = self.counts
        value = counts.get(key)
        if value is None and len(counts) >= self.max_series:
            self.overflowed += 1
            key = self.overflow_key
            value = counts.get(key)
        counts[key] = (value or 0) + amount

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labels)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.counts.items()):
            family.add_metric(key, value)
        yield family


class LoopHistogram(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float], *,
                 max_series: int, overflow: Key) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        self._le = [floatToGoString(b) for b in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.max_series, self.overflow_key = max_series, overflow
        self.series: dict[Key, list[float]] = {}  # per label set: count per bucket (+Inf last), then the sum
        self.overflowed = 0

    def observe(self, key: Key, value: float) -> None:
        state = self.series.get(key)
        if state is None:
            if len(self.series) >= self.max_series:
                self.overflowed += 1
                key = self.overflow_key
                state = self.series.get(key)
            if state is None:
                state = self.series[key] = [0.0] * (len(self.bounds) + 2)
        state[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value
        state[-1] += value

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labels)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, state in list(self.series.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(self._le, state[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(key, buckets, state[-1])
        yield family


class OverflowCollector(Collector):
    """``tenant_exporter_metrics_series_overflow_total{metric}`` from the families' own counts, and each
    family's label sets now and its cap (``..._metrics_series``, ``..._metrics_series_limit``), so an
    alert fires before the cap is reached."""

    def __init__(self, families: Mapping[str, LoopCounter | LoopHistogram]) -> None:
        self.families = families

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        family = CounterMetricFamily(
            "tenant_exporter_metrics_series_overflow",
            "Observations recorded under __overflow__ because a family reached its label-set cap.",
            labels=["metric"],
        )
        held = GaugeMetricFamily("tenant_exporter_metrics_series", "Label sets a capped HTTP family holds now "
                                 "(__overflow__ included).", labels=["metric"])
        cap = GaugeMetricFamily("tenant_exporter_metrics_series_limit", "Label sets a capped HTTP family may hold "
                                "before observations go to __overflow__ (METRICS_MAX_SERIES).", labels=["metric"])
        for name, source in self.families.items():
            family.add_metric([name], source.overflowed)
            held.add_metric([name], len(source.counts if isinstance(source, LoopCounter) else source.series))
            cap.add_metric([name], source.max_series)
        yield family
        yield held
        yield cap

    describe = collect
