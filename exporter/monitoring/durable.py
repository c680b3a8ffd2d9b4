"""The evaluator's durable memory: what it writes so that a restart is not amnesia.

At each evaluation the window's new snapshot is queued; at the end of the tick the queue is
written (``monitoring_snapshots``, one compressed row per evaluation, pruned to the window) with
every alert whose state changed since the last write (``alert_states``: pending, firing,
resolved, with ``active_at`` and ``fired_at``). Values are not written on every change: the
first evaluation after a restart recomputes them. Rows carry this replica's instance id.

A write that fails (the database is down) keeps the queue and is retried at the next tick;
snapshots older than the window are dropped from it, since a restart could not use them.
Reading back is ``restore.py``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

import msgspec

from exporter.monitoring.alerts import Alert
from exporter.monitoring.window import Snapshot
from exporter.store import AlertStateRow, SnapshotRow, Store

_Encoded = dict[str, list[tuple[list[tuple[str, str]], float]]]


def encode(snapshot: Snapshot) -> bytes:
    """A snapshot as compressed msgpack: ``{sample name: [(labels, value), ...]}``."""
    body: _Encoded = {name: [(list(labels), value) for labels, value in series.items()]
                      for name, series in snapshot.samples.items()}
    return zlib.compress(msgspec.msgpack.encode(body), 1)  # level 1: 4x less CPU than 6, 20 % more bytes


def decode(t_ms: int, data: bytes) -> Snapshot:
    body: Any = msgspec.msgpack.decode(zlib.decompress(data))
    samples = {str(name): MappingProxyType({tuple((str(k), str(v)) for k, v in labels): float(value)
                                            for labels, value in series})
               for name, series in body.items()}
    return Snapshot(t_ms, MappingProxyType(samples))


def labels_text(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _signature(alert: Alert) -> tuple[str, int, int | None, int | None]:
    return alert.state.value, alert.active_at_ms, alert.fired_at_ms, alert.resolved_at_ms


class EvaluatorMemory:
    """Queues snapshots and alert changes in memory (no I/O); ``flush`` writes them in one go."""

    def __init__(self, store: Store, instance: str) -> None:
        self._store = store
        self.instance = instance
        self._snapshots: dict[int, Snapshot] = {}
        self._written: dict[str, tuple[str, int, int | None, int | None]] = {}

    def note(self, snapshot: Snapshot, window_ms: int) -> None:
        """Queue a snapshot (those older than the window are dropped: a restart could not use them)."""
        queue = self._snapshots
        queue[snapshot.t_ms] = snapshot
        if len(queue) > 1 and min(queue) < snapshot.t_ms - window_ms:
            self._snapshots = {t: s for t, s in queue.items() if t >= snapshot.t_ms - window_ms}

    def adopt(self, alerts: Iterable[Alert], discarded: Iterable[str] = ()) -> None:
        """Alerts read back at a restart are in the store as they are; the ``discarded`` ones go at the next flush."""
        for alert in alerts:
            self._written[alert.id] = _signature(alert)
        for alert_id in discarded:
            self._written.setdefault(alert_id, ("", 0, None, None))

    async def flush(self, alerts: Iterable[Alert], now_ms: int, window_ms: int) -> None:
        """Write the queued snapshots and changed alerts, delete vanished ones (StoreError keeps the queue)."""
        horizon = now_ms - window_ms
        self._snapshots = {t: s for t, s in self._snapshots.items() if t >= horizon}
        current = {a.id: a for a in alerts}
        changed = [a for a in current.values() if self._written.get(a.id) != _signature(a)]
        gone = [alert_id for alert_id in self._written if alert_id not in current]
        rows = [SnapshotRow(self.instance, t, encode(s)) for t, s in sorted(self._snapshots.items())]
        if rows:
            await self._store.save_snapshots(rows, prune_before_ms=horizon)
            self._snapshots = {}
        if changed:
            await self._store.save_alert_states([
                AlertStateRow(self.instance, a.id, a.rule.name, a.rule.severity, labels_text(a.labels), a.state.value,
                              a.value, a.active_at_ms, a.fired_at_ms, a.resolved_at_ms, now_ms) for a in changed])
            self._written.update((a.id, _signature(a)) for a in changed)
        if gone:
            await self._store.delete_alert_states(self.instance, gone)
            for alert_id in gone:
                del self._written[alert_id]
