"""The evaluator of a fleet: replicas on one PostgreSQL, of which one evaluates the rules for all.

``FleetEngine`` is the ``AlertEngine`` every replica runs when the store is shared. Each replica
snapshots its own families at every tick and writes the snapshot. The replica holding the lease
(``evaluator_lease``: one interval long, renewed every FLEET_POLL_INTERVAL, given up at a clean
stop) reads every replica's snapshots into a ``FleetWindow``, evaluates, clears acknowledgements of
ended alerts, and publishes the evaluation; the others take the published evaluation (figures,
alerts with their ``active_at``, the evaluator's probes) within a poll interval and serve it, so
every replica answers alike. A replica that takes the lease reads the window from the store and
the alerts from the last published evaluation (within the outage tolerance, as a restart does), so
a failover neither forgets a firing alert nor restarts its ``for`` clock.

Failover: a dead evaluator's lease expires one evaluation interval after its last renewal; a
survivor takes it at its next poll and evaluates at once: the fleet's ``evaluated_at`` is then at
most two intervals old. Lease times are the replicas' own clocks (NTP keeps them within
milliseconds of each other; the lease lasts seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from types import MappingProxyType

from prometheus_client import CollectorRegistry

from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.core.threads import in_thread
from exporter.monitoring.alerts import Alert
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.durable import decode as decode_snapshot
from exporter.monitoring.engine import AlertEngine, Evaluation, compute, revive
from exporter.monitoring.fleet import (
    FleetWindow,
    ProbeOutcome,
    Published,
    active_users,
    decode,
    encode,
    published,
    with_active_keys,
)
from exporter.monitoring.promql import Vector
from exporter.monitoring.restore import RestoredAlert
from exporter.monitoring.view import MonitorView
from exporter.monitoring.window import Snapshot, to_ms
from exporter.store import FleetEvaluationRow, Store

log = logging.getLogger(__name__)


def _compute(window: FleetWindow, t_ms: int, range_ms: int
             ) -> tuple[dict[str, Vector], MonitorView, dict[str, list[str]]]:
    signals, view = compute(window, t_ms, range_ms)
    return signals, view, active_users(window, t_ms, range_ms)


class FleetEngine(AlertEngine):
    def __init__(
        self, registry: CollectorRegistry, clock: Clock, monitoring: Callable[[], MonitoringConfig], store: Store,
        *, instance: str, outage_tolerance: float = 3600.0, probes: Callable[[], Mapping[str, ProbeOutcome]] = dict,
        recent_keys: Callable[[], Mapping[tuple[str, str], float]] = dict,
    ) -> None:
        super().__init__(registry, clock, monitoring, store, instance=instance, outage_tolerance=outage_tolerance,
                         probes=probes)
        self._recent_keys = recent_keys  # the keys this replica saw since its last snapshot (active users)
        self._active: dict[str, list[str]] = {}
        self._fleet = FleetWindow(self.window.length_ms)
        self.leading = False  # until this replica takes the lease
        self.evaluator: str | None = None  # the replica that holds it, when known
        self._took_over = False  # the lease was just taken: read the fleet's state before evaluating
        self._lease_since_ms = 0
        self._lease_expires_ms = 0
        self._published: Published | None = None
        self._published_data = b""
        self._own_latest: Snapshot | None = None

    def evaluated_by(self) -> tuple[str, int | None] | None:
        if self.leading:
            return self.instance, self._lease_since_ms
        doc = self._published
        return None if doc is None else (doc.evaluator, doc.since_ms)

    def active_users(self) -> Mapping[str, Sequence[str]] | None:
        doc = self._published
        return None if doc is None else doc.active_users

    def probes(self) -> Mapping[str, ProbeOutcome]:
        if self.leading or self._published is None:
            return self._local_probes()
        return self._published.probes

    async def restore(self) -> None:
        """Nothing yet: the replica that takes the lease reads the fleet's state then (``_take_over``)."""
        self._sync_config()

    async def tick(self) -> Evaluation | None:
        """Snapshot and write this replica's families; then evaluate every replica's, if this one holds the
        lease, or take the evaluating replica's latest result (None until there is one)."""
        async with self._lock:
            return await self._tick()

    async def _tick(self) -> Evaluation | None:
        config = self._sync_config()
        fleet = self._fleet
        t_ms = to_ms(self._clock.now())
        snapshot = with_active_keys(self._snapshotter.take(t_ms), self._recent_keys())
        self.memory.note(snapshot, config.window_ms)
        fleet.length_ms = config.window_ms
        fleet.add_from(self.instance, snapshot)
        self._own_latest = snapshot
        try:
            await self.memory.flush((), t_ms, config.window_ms)
        except StoreError as e:
            log.warning("this replica's snapshot was not written (kept, retrying next tick): %s", e)
        await self._claim(t_ms, config)
        if not self.leading:
            await self._follow()
            return self.latest
        if self._took_over:
            await self._take_over(t_ms, config)
        else:
            await self._read_replicas(t_ms, config)
        fleet.expire(t_ms)
        # the window grows with the replicas (bench/fleet_evaluation.py): computed in a thread, so that the loop
        # goes on serving meanwhile (nothing else touches the fleet's window: ticks hold the lock)
        signals, view, self._active = await in_thread(_compute, fleet, t_ms, config.window_ms)
        evaluation, ended = self._advance(t_ms, signals, view)
        await self._settle(evaluation, ended)
        await self._publish(evaluation)
        return evaluation

    async def _claim(self, now_ms: int, config: MonitoringConfig) -> None:
        """Take or renew the lease (it lasts one evaluation interval; the holder renews it more often)."""
        try:
            lease = await self._store.claim_evaluator(self.instance, now_ms, config.evaluation_interval_ms)
        except StoreError as e:
            if self.leading and now_ms >= self._lease_expires_ms:
                log.warning("the evaluator lease could not be renewed; evaluating stops here: %s", e)
                self.leading = False
            return
        if lease.holder == self.instance and not self.leading:
            log.info("this replica (%s) evaluates the rules for the fleet", self.instance)
            self._took_over = True
        elif lease.holder != self.instance and self.leading:
            log.info("the rules are evaluated by %s now", lease.holder)
        self.leading = lease.holder == self.instance
        self.evaluator = lease.holder
        self._lease_since_ms, self._lease_expires_ms = lease.since_ms, lease.expires_ms

    async def _take_over(self, t_ms: int, config: MonitoringConfig) -> None:
        """Become the evaluator: every replica's snapshots inside the window, and the alerts as the last evaluator
        published them (within the outage tolerance, as a restart takes back its own)."""
        fleet = self._fleet
        try:
            rows = await self._store.snapshots_since(t_ms - config.window_ms)
            row = await self._store.fleet_evaluation()
        except StoreError as e:
            log.warning("the fleet's state was not read (evaluating what this replica has): %s", e)
            return
        self._took_over = False
        own = fleet.newest_of(self.instance)
        mine = self._own_latest
        fleet.clear()  # the store has every replica's window, this one's from before a restart too
        for r in rows:
            if r.t_ms > (fleet.newest_of(r.instance) or -1):
                fleet.add_from(r.instance, decode_snapshot(r.t_ms, r.data))
        if mine is not None and own is not None and own > (fleet.newest_of(self.instance) or -1):
            fleet.add_from(self.instance, mine)  # its write failed: this replica still has it
        self._covered_since_ms = fleet.oldest_ms
        self._reconciled = False
        doc = None if row is None else decode(row.data)
        if doc is not None and t_ms - doc.t_ms <= self._tolerance_ms:
            self._adopt(doc)
            kept = {a.id for a in self.alerts(include_resolved=True)}
            self._to_clear.update(a.alert_id for a in doc.alerts if a.alert_id not in kept)  # their rule is gone
        elif doc is not None:  # the fleet was not evaluated for longer than the tolerance: its episodes are over
            self._adopt_alerts([])
            self._to_clear.update(a.alert_id for a in doc.alerts)
        self.restored = tuple(self.alerts())

    async def _read_replicas(self, t_ms: int, config: MonitoringConfig) -> None:
        """The other replicas' snapshots written since the last evaluations."""
        fleet = self._fleet
        since = t_ms - min(config.window_ms, 3 * config.evaluation_interval_ms)
        try:
            rows = await self._store.snapshots_since(since)
        except StoreError as e:
            log.warning("the other replicas' snapshots were not read (evaluating without them): %s", e)
            return
        for r in rows:
            if r.t_ms > (fleet.newest_of(r.instance) or -1):
                fleet.add_from(r.instance, decode_snapshot(r.t_ms, r.data))

    async def _publish(self, evaluation: Evaluation) -> None:
        doc = published(evaluation.t_ms, self.instance, self._lease_since_ms, evaluation.view,
                        self.alerts(include_resolved=True), self._local_probes(), self._active)
        self._published = doc
        try:
            if not await self._store.publish_evaluation(FleetEvaluationRow(self.instance, doc.t_ms, encode(doc))):
                self.leading = False  # another replica took the lease meanwhile
        except StoreError as e:
            log.warning("the fleet's evaluation was not published (retrying next tick): %s", e)

    async def _follow(self) -> None:
        """Take the evaluating replica's latest evaluation (when it is new) and the open acknowledgements."""
        try:
            row = await self._store.fleet_evaluation()
            if row is not None and row.data != self._published_data:
                self._published_data = row.data
                self._adopt(decode(row.data))
                await self.reload_acknowledgements()
        except StoreError as e:
            log.warning("the fleet's evaluation was not read (showing the previous one): %s", e)

    def _adopt(self, doc: Published) -> None:
        self._published = doc
        self._adopt_alerts(doc.alerts, doc.t_ms)
        self.latest = Evaluation(doc.t_ms, MappingProxyType({}), doc.view)
        self.generation += 1

    def _adopt_alerts(self, alerts: Iterable[RestoredAlert], now_ms: int = 0) -> None:
        found: dict[tuple[str, str], dict[str, Alert]] = {key: {} for key in self._rules}
        for item in alerts:
            state = self._rules.get((item.alertname, item.severity))
            if state is not None and (alert := revive(state.rule, item, now_ms)) is not None:
                found[state.rule.key][alert.id] = alert
        for key, state in self._rules.items():
            state.alerts = found[key]

    async def follow_forever(self, interval: float) -> None:
        """In a fleet, every ``interval`` seconds: renew the lease (or take it when it is free), and take the
        evaluating replica's newest evaluation; a replica that takes the lease evaluates at once."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.follow_once()
            except Exception:
                log.exception("following the fleet's evaluator failed; retrying")

    async def follow_once(self) -> None:
        """Renew or take the lease; a follower takes the newest evaluation, a new evaluator evaluates at once."""
        async with self._lock:
            await self._claim(to_ms(self._clock.now()), self._sync_config())
            if not self.leading:
                await self._follow()
        if self._took_over:
            await self.tick()

    async def stop(self) -> None:
        """Give the lease up (a clean stop), so another replica evaluates at its next look rather than after expiry."""
        if self.leading:
            self.leading = False
            with suppress(StoreError):
                await self._store.release_evaluator(self.instance)

