"""Snapshots of metric families taken from the registry, kept in a ring buffer covering the window.

The in-process evaluator sees its own metrics the way Prometheus sees a scrape: at each
evaluation it copies the samples of the families it needs (counters, histogram buckets, gauges)
into an immutable ``Snapshot`` stamped with the evaluation time. ``Window.range`` then answers a
range selector (``metric{...}[5m]``) exactly as Prometheus 2.42 does: every sample with a
timestamp in ``[t - range, t]``.

Memory is bounded: a snapshot holds only the named families (whose label sets the request
telemetry caps), and the buffer only the snapshots inside the longest window asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from prometheus_client import CollectorRegistry

from exporter.monitoring.promql import Labels, Sample


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every sample of the chosen families at one instant (``t_ms``, Unix milliseconds), by sample name."""

    t_ms: int
    samples: Mapping[str, Mapping[Labels, float]]


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


class Snapshotter:
    """Copies the samples named ``sample_names`` out of a registry (never the whole registry).

    It uses ``restricted_registry``, which finds a collector by the names its ``describe()``
    returns; a custom collector must describe itself to be snapshotted.
    """

    def __init__(self, registry: CollectorRegistry, sample_names: Iterable[str],
                 summed_away: Iterable[str] = ()) -> None:
        self._names = frozenset(sample_names)
        self._restricted = registry.restricted_registry(self._names)
        self._interned: dict[Labels, Labels] = {}
        self._away = frozenset(summed_away)
        self._seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        self._baseline: dict[tuple[str, Labels], float] = {}
        self._taken = False  # series present at the first snapshot are the start, not new

    def take(self, t_ms: int) -> Snapshot:
        """Copy the samples. Labels in ``summed_away`` (the tenant) are summed over, as every signal
        sums them anyway: a snapshot's size, and the evaluator's time on the event loop, then do not
        grow with the number of tenants. Like PromQL's ``rate()``, which counts a series only from
        its first sample, a series first seen now adds its current value to a baseline that is
        subtracted from the sum, so its past is not mistaken for an increase."""
        samples: dict[str, dict[Labels, float]] = {}
        away, seen, baseline = self._away, self._seen, self._baseline
        for family in self._restricted.collect():
            for sample in family.samples:
                if sample.name not in self._names:
                    continue
                if not away or away.isdisjoint(sample.labels):  # gauges and unlabelled families: as they are
                    labels = self._intern(tuple(sorted(sample.labels.items())))
                    samples.setdefault(sample.name, {})[labels] = float(sample.value)
                    continue
                # a counter with a tenant label: summed over tenants, new series from their first sample
                labels = self._intern(tuple(sorted((k, v) for k, v in sample.labels.items() if k not in away)))
                full = (sample.name, frozenset(sample.labels.items()))
                value = float(sample.value)
                if full not in seen and len(seen) < 200_000:  # bounded like the families' own caps
                    seen.add(full)
                    if self._taken:
                        baseline[(sample.name, labels)] = baseline.get((sample.name, labels), 0.0) + value
                series = samples.setdefault(sample.name, {})
                series[labels] = series.get(labels, 0.0) + value
        for (name, labels), offset in baseline.items():
            summed = samples.get(name)
            if summed is not None and labels in summed:
                summed[labels] -= offset
        self._taken = True
        return Snapshot(t_ms, MappingProxyType({k: MappingProxyType(v) for k, v in samples.items()}))

    def _intern(self, labels: Labels) -> Labels:
        """Share one tuple per series across snapshots (the window holds many copies otherwise)."""
        found = self._interned.get(labels)
        if found is None:
            if len(self._interned) > 200_000:  # a runaway family: stop sharing rather than grow
                self._interned.clear()
            found = self._interned[labels] = labels
        return found


class Window:
    """The snapshots of the last ``length_ms`` (plus the one at the boundary), oldest first."""

    def __init__(self, length_ms: int) -> None:
        self.length_ms = length_ms
        self._snapshots: deque[Snapshot] = deque()
        self._ranges: dict[tuple[str, int, int], dict[Labels, list[Sample]]] = {}  # until the window changes

    def __len__(self) -> int:
        return len(self._snapshots)

    def add(self, snapshot: Snapshot) -> None:
        """Append (a snapshot at the same instant as the newest replaces it), then drop the expired."""
        if self._snapshots and self._snapshots[-1].t_ms >= snapshot.t_ms:
            while self._snapshots and self._snapshots[-1].t_ms >= snapshot.t_ms:
                self._snapshots.pop()
        self._snapshots.append(snapshot)
        self._ranges.clear()
        horizon = snapshot.t_ms - self.length_ms
        while self._snapshots and self._snapshots[0].t_ms < horizon:
            self._snapshots.popleft()

    @property
    def oldest_ms(self) -> int | None:
        return self._snapshots[0].t_ms if self._snapshots else None

    @property
    def newest_ms(self) -> int | None:
        return self._snapshots[-1].t_ms if self._snapshots else None

    def expire(self, horizon_ms: int) -> None:
        """Drop the snapshots older than ``horizon_ms`` (``add`` does this relative to the newest)."""
        while self._snapshots and self._snapshots[0].t_ms < horizon_ms:
            self._snapshots.popleft()
            self._ranges.clear()

    def range(
        self, name: str, t_ms: int, range_ms: int, match: Callable[[Labels], bool] | None = None
    ) -> dict[Labels, list[Sample]]:
        """``name{match}[range]`` at ``t_ms``: each series' samples with ``t - range <= ts <= t``. One evaluation
        asks for the same range several times (each signal, each figure of the view): it is gathered once
        until the window changes, and the answer must not be modified."""
        key = (name, t_ms, range_ms)
        out = self._ranges.get(key)
        if out is None:
            out = self._ranges[key] = self._gather(name, t_ms, range_ms)
        return out if match is None else {labels: samples for labels, samples in out.items() if match(labels)}

    def _gather(self, name: str, t_ms: int, range_ms: int) -> dict[Labels, list[Sample]]:
        out: dict[Labels, list[Sample]] = {}
        start = t_ms - range_ms
        for snapshot in self._snapshots:
            if snapshot.t_ms < start or snapshot.t_ms > t_ms:
                continue
            for labels, value in snapshot.samples.get(name, {}).items():
                out.setdefault(labels, []).append((snapshot.t_ms, value))
        return out
