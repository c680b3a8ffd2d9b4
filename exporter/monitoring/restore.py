"""Reading the evaluator's durable memory back at start: the window and the alerts, as they were.

``restore`` reads one replica's rows (``durable.py`` wrote them). When the replica last
evaluated within the outage tolerance (``ALERT_OUTAGE_TOLERANCE``, 1 h by default, as
Prometheus's ``--rules.alert.for-outage-tolerance``), its pending and firing alerts come back
with their ``active_at`` (``for`` clocks continue) and firing ones stay firing, and the window
gets back the snapshots still inside it, so the first evaluation sees the traffic from before
the stop (the new process's counters start from zero again: a reset, which ``rate()``
handles). Past the tolerance nothing is restored: the alerts start over, as in Prometheus.

The reader takes an instance id, so an evaluator for the whole fleet can read the other
replicas' rows with the same functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from exporter.monitoring.durable import decode
from exporter.monitoring.window import Snapshot
from exporter.store import AlertStateRow, Store


@dataclass(frozen=True, slots=True)
class RestoredAlert:
    alert_id: str
    alertname: str
    severity: str
    labels: dict[str, str]
    state: str
    value: float
    active_at_ms: int
    fired_at_ms: int | None
    resolved_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Restored:
    last_ms: int | None  # when the replica last evaluated (its newest snapshot), None if never
    snapshots: tuple[Snapshot, ...]  # those inside the window, oldest first
    alerts: tuple[RestoredAlert, ...]
    discarded: tuple[str, ...] = ()  # ids of the replica's stored alerts not taken back (too old)

    @property
    def covered_since_ms(self) -> int | None:
        return self.snapshots[0].t_ms if self.snapshots else None


def _alert(row: AlertStateRow) -> RestoredAlert:
    labels = {str(k): str(v) for k, v in json.loads(row.labels).items()}
    return RestoredAlert(row.alert_id, row.alertname, row.severity, labels, row.state, row.value, row.active_at_ms,
                         row.fired_at_ms, row.resolved_at_ms)


async def restore(store: Store, instance: str, now_ms: int, window_ms: int, tolerance_ms: int) -> Restored:
    """What the replica ``instance`` can take back at ``now_ms``: nothing if it last evaluated too long ago."""
    rows = await store.snapshots_since(now_ms - max(window_ms, tolerance_ms), instance)
    rows = [r for r in rows if r.t_ms <= now_ms]
    last = rows[-1].t_ms if rows else None
    states = await store.alert_states(instance)
    if last is None or now_ms - last > tolerance_ms:
        return Restored(last, (), (), tuple(r.alert_id for r in states))
    snapshots = tuple(decode(r.t_ms, r.data) for r in rows if r.t_ms >= now_ms - window_ms)
    return Restored(last, snapshots, tuple(_alert(r) for r in states))
