"""The in-process evaluator: every evaluation interval, snapshot the metric families, compute the
signals over the window, advance each rule's alerts, and refresh the health/metrics view.

It applies the rules of ``config/monitoring.yml`` (re-read at each tick, so a reload takes
effect at the next one) with the semantics of the generated Prometheus rules; see
``signals.py`` and ``alerts.py``. Acknowledgements live in the store: one is shown while its
alert is active and cleared when the alert ends. ``tick()`` runs in a background task started
by ``app/lifetimes.py``; tests call it after moving the injected clock.

A restart is not amnesia: every tick writes the window's new snapshot and the alerts that changed
(``durable.py``), and ``restore()`` (at start, before the first tick) reads them back within the
outage tolerance (``restore.py``): pending and firing alerts keep their ``active_at``, a firing
alert whose condition still holds stays firing, and the first evaluation sees the traffic from
before the stop.

Replicas sharing PostgreSQL run ``FleetEngine`` (``fleet_engine.py``): one of them evaluates every
replica's snapshots and the others serve its evaluation.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.core.clock import Clock
from exporter.core.errors import NotFound, StoreError
from exporter.monitoring.alerts import RESOLVED_RETENTION_MS, Alert, AlertState, RuleState, holds
from exporter.monitoring.config import AlertRule, MonitoringConfig
from exporter.monitoring.durable import EvaluatorMemory
from exporter.monitoring.fleet import ProbeOutcome
from exporter.monitoring.promql import Vector
from exporter.monitoring.restore import RestoredAlert, restore
from exporter.monitoring.signals import SIGNALS, SNAPSHOT_SAMPLES
from exporter.monitoring.view import MonitorView, compute_view
from exporter.monitoring.window import Snapshotter, Window, to_ms
from exporter.store import AckRecord, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    t_ms: int
    signals: Mapping[str, Vector]  # each signal's raw values
    view: MonitorView


class AlertEngine:
    def __init__(
        self, registry: CollectorRegistry, clock: Clock, monitoring: Callable[[], MonitoringConfig], store: Store,
        *, instance: str = "local", outage_tolerance: float = 3600.0,
        probes: Callable[[], Mapping[str, ProbeOutcome]] = dict,
    ) -> None:
        self._clock = clock
        self._monitoring = monitoring
        self._store = store
        self._snapshotter = Snapshotter(registry, SNAPSHOT_SAMPLES, summed_away=("tenant",))
        self.window = Window(monitoring().window_ms)
        self.memory = EvaluatorMemory(store, instance)
        self._tolerance_ms = round(outage_tolerance * 1000)
        self._config: MonitoringConfig | None = None
        self._rules: dict[tuple[str, str], RuleState] = {}
        self.latest: Evaluation | None = None
        self._acks: dict[str, AckRecord] = {}
        self._to_clear: set[str] = set()
        self._reconciled = False
        self._covered_since_ms: int | None = None  # the window holds what it saw since then
        self.restored: tuple[Alert, ...] = ()  # alerts taken back from the store at start
        self.evaluations = 0
        self.on_acknowledge: list[Callable[[AckRecord], None]] = []  # e.g. mirror it as a silence
        self._local_probes = probes
        self.leading = True  # this replica evaluates (in a fleet, the one holding the lease: fleet_engine.py)
        self._lock = asyncio.Lock()
        self.generation = 0  # counts evaluations made here or taken from the evaluator
        registry.register(AlertStateCollector(self))

    @property
    def instance(self) -> str:
        return self.memory.instance

    def evaluated_by(self) -> tuple[str, int | None] | None:
        """The replica whose evaluation this is, and since when it evaluates (None: alone, or not known yet)."""
        return self.instance, None

    def active_users(self) -> Mapping[str, Sequence[str]] | None:
        """The keys any replica saw in the window, by tenant, as of the latest evaluation (None: alone)."""
        return None

    def probes(self) -> Mapping[str, ProbeOutcome]:
        """The latest probe of each service: the evaluating replica's, so that every replica shows the same."""
        return self._local_probes()

    # --- restart ---------------------------------------------------------------------------------
    async def restore(self) -> None:
        """Take back this replica's window and alerts (before the first evaluation); a store failure means
        starting afresh, never failing the start."""
        config = self._sync_config()
        now_ms = to_ms(self._clock.now())
        try:
            found = await restore(self._store, self.memory.instance, now_ms, config.window_ms, self._tolerance_ms)
        except StoreError as e:
            log.warning("the evaluator's state was not restored (starting afresh): %s", e)
            return
        for snapshot in found.snapshots:
            self.window.add(snapshot)
        self._covered_since_ms = found.covered_since_ms
        restored = []
        for item in found.alerts:
            state = self._rules.get((item.alertname, item.severity))
            if state is not None and (alert := revive(state.rule, item, now_ms)) is not None:
                state.alerts[alert.id] = alert
                restored.append(alert)
        self.restored = tuple(restored)
        taken = {a.id for a in restored}
        dropped = [*found.discarded, *(a.alert_id for a in found.alerts if a.alert_id not in taken)]
        self.memory.adopt(restored, dropped)
        self._to_clear.update(dropped)  # their episodes are over: past the tolerance, or their rule is gone
        if found.alerts:
            log.info("restored %d of %d alerts (last evaluated %.1f s ago)", len(restored), len(found.alerts),
                     (now_ms - (found.last_ms or now_ms)) / 1000)

    # --- evaluation -----------------------------------------------------------------------------
    def evaluate(self) -> tuple[Evaluation, list[Alert]]:
        """One evaluation at the clock's now, and the alerts that ended (synchronous, no I/O)."""
        config = self._sync_config()
        t_ms = to_ms(self._clock.now())
        snapshot = self._snapshotter.take(t_ms)
        self.window.add(snapshot)
        self.memory.note(snapshot, self.window.length_ms)
        if self._covered_since_ms is None:
            self._covered_since_ms = t_ms
        return self._evaluate(self.window, t_ms, config)

    def _evaluate(self, window: Window, t_ms: int, config: MonitoringConfig) -> tuple[Evaluation, list[Alert]]:
        return self._advance(t_ms, *compute(window, t_ms, config.window_ms))

    def _advance(self, t_ms: int, signals: Mapping[str, Vector], view: MonitorView) -> tuple[Evaluation, list[Alert]]:
        """The rules' alerts moved to ``t_ms`` by the signals' values; the alerts that ended."""
        ended: list[Alert] = []
        for state in self._rules.values():
            ended.extend(state.eval(t_ms, holds(state.rule, signals[state.rule.signal.name])))
        self.latest = Evaluation(t_ms, MappingProxyType(dict(signals)), view)
        self.evaluations += 1
        self.generation += 1
        return self.latest, ended

    async def tick(self) -> Evaluation | None:
        """Evaluate, bring acknowledgements up to date with the store, and write the durable memory (a store
        outage is retried at the next tick; the evaluation itself never waits for the store)."""
        async with self._lock:
            evaluation, ended = self.evaluate()
            await self._settle(evaluation, ended)
            await self._remember(evaluation)
            return evaluation

    async def _settle(self, evaluation: Evaluation, ended: list[Alert]) -> None:
        """After an evaluation: acknowledgements of ended alerts cleared, the open ones re-read."""
        self._to_clear.update(alert.id for alert in ended)
        self._to_clear.update(self._earlier_episodes())
        now = self._clock.now()
        try:
            if self._to_clear:
                await self._store.clear_acknowledgements(self._to_clear, now)
                self._to_clear.clear()
            if not self._reconciled and self._warm():
                # acknowledgements of alerts that ended while no evaluator was watching
                await self._store.clear_acknowledgements_except([a.id for a in self.alerts()], now)
                self._reconciled = True
            await self.reload_acknowledgements()
        except StoreError as e:
            log.warning("acknowledgements not synchronised with the store (retrying next tick): %s", e)

    async def _remember(self, evaluation: Evaluation) -> None:
        """Write the window's new snapshot and the alerts that changed (``durable.py``)."""
        try:
            await self.memory.flush(self.alerts(include_resolved=True), evaluation.t_ms, self.window.length_ms)
        except StoreError as e:
            log.warning("the evaluator's state was not written (kept, retrying next tick): %s", e)

    # --- a fleet (``FleetEngine`` in fleet_engine.py): alone, this replica is the evaluator ----------------
    async def follow_forever(self, interval: float) -> None:
        """Alone there is no other evaluator to follow."""

    async def stop(self) -> None:
        """Alone there is no lease to give up."""

    async def run_forever(self) -> None:
        """Tick every evaluation interval (re-read each time, so a reload applies); never dies of an error."""
        while True:
            await asyncio.sleep(self._monitoring().evaluation_interval_ms / 1000)
            try:
                await self.tick()
            except Exception:
                log.exception("in-process rule evaluation failed; retrying at the next interval")

    def _warm(self) -> bool:
        """The window has seen a whole window length (restored snapshots count), so an alert not active now
        was not active at any time it covers. (Within one evaluation interval: samples never land exactly
        on the window's start.)"""
        since, latest = self._covered_since_ms, self.latest
        slack = self._config.evaluation_interval_ms if self._config else 0
        return since is not None and latest is not None and latest.t_ms - since >= self.window.length_ms - slack

    def _earlier_episodes(self) -> list[str]:
        """Active alerts whose acknowledgement is older than their episode, which this process saw begin after a
        whole window without it: the acknowledgement was for an earlier episode."""
        since = self._covered_since_ms
        if since is None:
            return []
        out = []
        for alert in self.alerts():
            ack = self._acks.get(alert.id)
            if (ack is not None and ack.acknowledged_at * 1000 < alert.active_at_ms
                    and alert.active_at_ms - since >= self.window.length_ms):
                out.append(alert.id)
        return out

    def _sync_config(self) -> MonitoringConfig:
        config = self._monitoring()
        if config is self._config:
            return config
        old, self._rules = self._rules, {}
        for rule in config.rules:
            kept = old.pop(rule.key, None)
            self._rules[rule.key] = kept if kept is not None and kept.rule == rule else RuleState(rule)
        for dropped in old.values():  # a rule removed or changed: its alerts end
            self._to_clear.update(alert_id for alert_id, a in dropped.alerts.items() if a.active)
        self.window.length_ms = config.window_ms
        self._config = config
        return config

    # --- reading ----------------------------------------------------------------------------------
    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        """Active alerts (pending and firing), errors first, then by name and age."""
        found = [a for s in self._rules.values() for a in s.alerts.values() if include_resolved or a.active]
        return sorted(found, key=lambda a: (a.rule.severity != "error", a.rule.name, a.active_at_ms, a.id))

    def get(self, alert_id: str) -> Alert | None:
        return next((a for s in self._rules.values() if (a := s.alerts.get(alert_id)) is not None), None)

    def acknowledgement(self, alert: Alert) -> AckRecord | None:
        return self._acks.get(alert.id) if alert.active else None

    async def acknowledge(
        self, alert_id: str, *, tenant_id: str, key_id: str, key_name: str, comment: str, public_message: str = ""
    ) -> tuple[Alert, AckRecord, bool]:
        """Acknowledge an active alert; 404 otherwise. Idempotent: the first acknowledgement stays, and
        the flag says whether this call made it."""
        alert = self.get(alert_id)
        if alert is None or not alert.active:
            raise NotFound(f"no active alert has id {alert_id!r}", slug="unknown-alert")
        new_id = f"ack_{secrets.token_hex(8)}"
        record = await self._store.acknowledge_alert(AckRecord(
            new_id, alert.id, alert.rule.name, tenant_id, key_id, key_name, comment, self._clock.now(),
            public_message=public_message.strip(),
        ))
        self._acks[alert.id] = record
        for listener in self.on_acknowledge:
            listener(record)
        return alert, record, record.id == new_id

    async def reload_acknowledgements(self) -> None:
        """Read the open acknowledgements from the store (one may have ended, or gained a silence)."""
        self._acks = {record.alert_id: record for record in await self._store.open_acknowledgements()}

    def state_counts(self) -> list[tuple[str, str, str, int]]:
        """Alerts per rule and state: on the evaluator (0 on the other replicas, so ``sum`` counts each once)."""
        counts = []
        for state in self._rules.values():
            for kind in (AlertState.PENDING, AlertState.FIRING):
                n = sum(1 for a in state.alerts.values() if a.state is kind) if self.leading else 0
                counts.append((state.rule.name, state.rule.severity, kind.value, n))
        return counts


def compute(window: Window, t_ms: int, range_ms: int) -> tuple[dict[str, Vector], MonitorView]:
    """Every signal's values and the health view at ``t_ms`` (reads the window, changes nothing)."""
    signals = {name: signal.evaluate(window, t_ms, range_ms) for name, signal in SIGNALS.items()}
    return signals, compute_view(window, t_ms, range_ms)


def revive(rule: AlertRule, item: RestoredAlert, now_ms: int) -> Alert | None:
    """An alert read back from the store, under the rule in force now (None: a resolved one too old to list)."""
    try:
        state = AlertState(item.state)
    except ValueError:
        return None
    if state is AlertState.RESOLVED and (
            item.resolved_at_ms is None or now_ms - item.resolved_at_ms > RESOLVED_RETENTION_MS):
        return None
    return Alert(item.alert_id, rule, dict(item.labels), item.value, state, item.active_at_ms, item.fired_at_ms,
                 item.resolved_at_ms)


class AlertStateCollector(Collector):
    """``tenant_exporter_alert_state{alertname,severity,state}``: the in-process view beside ``ALERTS``; and which
    replica evaluates (``tenant_exporter_alert_evaluator``)."""

    def __init__(self, engine: AlertEngine) -> None:
        self._engine = engine

    def describe(self) -> list[Metric]:
        return list(self._families([], 0, None))

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        latest = engine.latest
        yield from self._families(engine.state_counts(), engine.evaluations, latest.t_ms if latest else None,
                                  engine.leading)

    @staticmethod
    def _families(counts: list[tuple[str, str, str, int]], evaluations: int, last_ms: int | None,
                  leading: bool = False) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "tenant_exporter_alert_state",
            "Alerts of each in-process rule by state (pending, firing), from config/monitoring.yml.",
            labels=["alertname", "severity", "state"],
        )
        for name, severity, kind, n in counts:
            state.add_metric([name, severity, kind], n)
        yield state
        yield CounterMetricFamily("tenant_exporter_alert_evaluations", "In-process rule evaluations.",
                                  value=evaluations)
        last = GaugeMetricFamily("tenant_exporter_alert_last_evaluation_timestamp_seconds",
                                 "When the in-process rules were last evaluated.")
        if last_ms is not None:
            last.add_metric([], last_ms / 1000)
        yield last
        yield GaugeMetricFamily("tenant_exporter_alert_evaluator",
                                "1 on the replica that evaluates the in-process rules for the fleet, 0 on the others.",
                                value=1 if leading else 0)
