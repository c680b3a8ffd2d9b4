"""One alert state for a fleet of replicas: the window over every replica's snapshots, and what the
evaluating replica publishes for the others.

Every replica snapshots its own metric families at each evaluation and writes the snapshot to the
store (``durable.py``). One replica, elected by a lease in the store (``evaluator_lease``, renewed
while it lives, free when it stops or expired when it dies), reads them all into a ``FleetWindow``
where each series carries its replica's ``instance`` label, the way Prometheus sees each replica as
a target. The signals then compute exactly what the generated rules compute over the scraped
series: request signals summed over the fleet (``sum by (job)``), per-replica signals (CPU, memory,
the API probe) one series per ``instance``. The evaluator publishes the result (figures, alerts,
its probes) as one row, and every replica serves that row, so all of them answer alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol

import msgspec

from exporter.monitoring.alerts import Alert
from exporter.monitoring.promql import Labels, Sample
from exporter.monitoring.restore import RestoredAlert
from exporter.monitoring.view import MonitorView
from exporter.monitoring.window import Snapshot, Window

INSTANCE = "instance"


class ProbeOutcome(Protocol):
    """What health and the status page need of a probe result (``sla.probes.ProbeResult`` is one)."""

    @property
    def success(self) -> bool: ...

    @property
    def degraded(self) -> bool: ...

    @property
    def duration_seconds(self) -> float: ...

    @property
    def at(self) -> float: ...

    @property
    def detail(self) -> str: ...


class FleetWindow(Window):
    """The snapshots of the last ``length_ms`` of every replica; ``range`` labels each series ``instance``."""

    def __init__(self, length_ms: int) -> None:
        super().__init__(length_ms)
        self._replicas: dict[str, Window] = {}
        self._labelled: dict[tuple[str, Labels], Labels] = {}

    def __len__(self) -> int:
        return sum(len(w) for w in self._replicas.values())

    @property
    def instances(self) -> list[str]:
        return sorted(self._replicas)

    @property
    def oldest_ms(self) -> int | None:
        return min((t for w in self._replicas.values() if (t := w.oldest_ms) is not None), default=None)

    def newest_of(self, instance: str) -> int | None:
        window = self._replicas.get(instance)
        return None if window is None else window.newest_ms

    def add_from(self, instance: str, snapshot: Snapshot) -> None:
        window = self._replicas.get(instance)
        if window is None:
            window = self._replicas[instance] = Window(self.length_ms)
        window.length_ms = self.length_ms
        window.add(snapshot)
        self._ranges.clear()

    def expire(self, now_ms: int) -> None:
        """Drop what is older than the window at ``now_ms`` (a replica that stopped leaves with its last snapshot)."""
        horizon = now_ms - self.length_ms
        for instance, window in list(self._replicas.items()):
            window.expire(horizon)
            self._ranges.clear()
            if not len(window):
                del self._replicas[instance]
        if len(self._labelled) > 200_000:
            self._labelled.clear()

    def clear(self) -> None:
        self._replicas.clear()
        self._ranges.clear()

    def _gather(self, name: str, t_ms: int, range_ms: int) -> dict[Labels, list[Sample]]:
        out: dict[Labels, list[Sample]] = {}
        for instance, window in self._replicas.items():
            for labels, samples in window.range(name, t_ms, range_ms).items():
                out[self._label(instance, labels)] = samples
        return out

    def _label(self, instance: str, labels: Labels) -> Labels:
        found = self._labelled.get((instance, labels))
        if found is None:
            found = self._labelled[(instance, labels)] = tuple(sorted((*labels, (INSTANCE, instance))))
        return found


# --- active users: the keys each replica saw, carried in its snapshots ----------------------------------------

ACTIVE_KEYS = "tenant_exporter_active_keys"  # a family of the snapshots only (never exported): key -> last seen


def with_active_keys(snapshot: Snapshot, recent: Mapping[tuple[str, str], float]) -> Snapshot:
    """``snapshot`` with the keys its replica saw since its previous snapshot (tenant, key id -> when)."""
    keys: dict[Labels, float] = {(("key", key), ("tenant", tenant)): at for (tenant, key), at in recent.items()}
    return Snapshot(snapshot.t_ms, MappingProxyType({**snapshot.samples, ACTIVE_KEYS: MappingProxyType(keys)}))


def active_users(window: Window, t_ms: int, range_ms: int) -> dict[str, list[str]]:
    """The keys seen by any replica in the range ending at ``t_ms``, by tenant (sorted, each once)."""
    cutoff = (t_ms - range_ms) / 1000
    seen: dict[str, set[str]] = {}
    for labels, samples in window.range(ACTIVE_KEYS, t_ms, range_ms).items():
        if max(at for _, at in samples) >= cutoff:
            d = dict(labels)
            seen.setdefault(d.get("tenant", ""), set()).add(d.get("key", ""))
    return {tenant: sorted(keys) for tenant, keys in seen.items()}


# --- what the evaluator publishes -------------------------------------------------------------------------


class PublishedProbe(msgspec.Struct, frozen=True):
    service: str
    success: bool
    duration_seconds: float
    detail: str
    at: float
    degraded: bool


class Published(msgspec.Struct, frozen=True):
    """The fleet's evaluation as every replica serves it."""

    t_ms: int
    evaluator: str
    since_ms: int  # when the evaluator took the lease
    view: MonitorView
    alerts: list[RestoredAlert]  # as a restart reads them back: the same fields
    probes: dict[str, PublishedProbe]
    active_users: dict[str, list[str]] = msgspec.field(default_factory=dict)  # keys seen in the window, by tenant


def published(t_ms: int, evaluator: str, since_ms: int, view: MonitorView, alerts: Iterable[Alert],
              probes: Mapping[str, ProbeOutcome], active_users: Mapping[str, list[str]]) -> Published:
    return Published(
        t_ms, evaluator, since_ms, view,
        [RestoredAlert(a.id, a.rule.name, a.rule.severity, dict(a.labels), a.state.value, a.value, a.active_at_ms,
                       a.fired_at_ms, a.resolved_at_ms) for a in alerts],
        {name: PublishedProbe(name, p.success, p.duration_seconds, p.detail, p.at, p.degraded)
         for name, p in probes.items()}, dict(active_users))


def encode(evaluation: Published) -> bytes:
    return msgspec.msgpack.encode(evaluation)


def decode(data: bytes) -> Published:
    return msgspec.msgpack.decode(data, type=Published)
