"""In-process alerts, posted to Alertmanager the way Prometheus's notifier posts its own.

Only *firing* and *resolved* alerts are sent (pending ones are not, as in Prometheus). An alert
is sent when it starts firing, when it resolves, and again every ``resend_interval`` while it
fires or stays listed as resolved (15 minutes), because Alertmanager forgets what is not
re-sent. A firing alert carries ``endsAt = now + 4 x resend_interval`` (Prometheus's
``ValidUntil``): if this process dies, Alertmanager resolves it by itself, independently of
its ``resolve_timeout``. A resolved alert carries the time it resolved. An alert that vanishes
without resolving (its rule was removed or changed by a reload) is sent resolved once.

Labels are the alert's own (``alertname``, ``severity``, ``signal``, ``service``...) plus
``source="tenant-exporter"``, so Alertmanager tells them apart from Prometheus's alerts of the
same rules (which carry ``job`` and ``instance`` instead); annotations are the rule's plus
``alert_id``, the id to acknowledge in this service.

Alerts restored as firing after a restart count as already sent (re-sent with their original
``startsAt``; resolved if they no longer hold), so Alertmanager sees no resolve/fire flap. Alerts
about a service in a maintenance window are held back: neither sent nor resolved while it lasts.

The forwarder reads the evaluator's alerts (in memory) in its own task and never makes the
evaluator or a request wait. When Alertmanager cannot be reached it keeps what was due and
retries with exponential backoff (1 s doubling, with jitter, up to the resend interval).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter

from exporter.alertmanager.client import AlertmanagerClient, AlertmanagerError
from exporter.core.clock import Clock, isoformat
from exporter.monitoring.alerts import Alert, AlertState
from exporter.monitoring.engine import AlertEngine

log = logging.getLogger(__name__)

SOURCE_LABEL: Final = "source"
SOURCE: Final = "tenant-exporter"
VALID_FOR_RESENDS: Final = 4  # a firing alert's endsAt, in resend intervals (Prometheus: 4 x resend delay)


def postable(alert: Alert, now: float, resend_interval: float, generator_url: str) -> dict[str, Any]:
    """Alertmanager's ``postableAlert`` for an alert that fires or resolved."""
    if alert.state is AlertState.RESOLVED and alert.resolved_at_ms is not None:
        ends_at = alert.resolved_at_ms / 1000
    else:
        ends_at = now + VALID_FOR_RESENDS * resend_interval
    return {
        "labels": {**alert.labels, SOURCE_LABEL: SOURCE},
        "annotations": {**alert.rule.annotations, "alert_id": alert.id},
        "startsAt": isoformat(alert.active_at_ms / 1000),
        "endsAt": isoformat(ends_at),
        "generatorURL": generator_url,
    }


def resolved_now(payload: dict[str, Any], now: float) -> dict[str, Any]:
    """The last payload sent for an alert that vanished, resolved at ``now``."""
    return {**payload, "endsAt": isoformat(now)}


@dataclass(slots=True)
class _Sent:
    state: AlertState
    at: float  # monotonic
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """What is due now: ``(state, postableAlert)`` pairs, and what Alertmanager holds once they are posted."""

    items: list[tuple[AlertState, dict[str, Any]]]
    after: dict[str, _Sent]


class AlertForwarder:
    def __init__(self, client: AlertmanagerClient, engine: AlertEngine, clock: Clock, registry: CollectorRegistry,
                 *, resend_interval: float, generator_url: str, held: Callable[[Alert], bool] = lambda _: False,
                 ) -> None:
        self._client = client
        self._engine = engine
        self._clock = clock
        self.resend_interval = resend_interval
        self._generator_url = generator_url
        self._sent: dict[str, _Sent] = {}
        self._seeded = False
        self._held = held  # alerts about a service in a maintenance window: neither sent nor resolved
        self._alerts_sent = Counter("tenant_exporter_alertmanager_alerts_sent",
                                    "In-process alerts posted to Alertmanager, by state.", ["state"],
                                    registry=registry)
        for state in ("firing", "resolved"):
            self._alerts_sent.labels(state)

    def due(self) -> Batch:
        """What to post now, at the clock's time. Changes nothing (``sent`` does, once it is posted)."""
        now, mono = self._clock.now(), self._clock.monotonic()
        if not self._seeded:  # alerts restored as firing were sent before the restart: resend, never re-fire
            self._seeded = True
            for alert in self._engine.restored:
                if alert.state is AlertState.FIRING:
                    payload = postable(alert, now, self.resend_interval, self._generator_url)
                    self._sent.setdefault(alert.id, _Sent(AlertState.FIRING, mono - self.resend_interval, payload))
        out: list[tuple[AlertState, dict[str, Any]]] = []
        after: dict[str, _Sent] = {}
        seen: set[str] = set()

        def send(alert_id: str, state: AlertState, payload: dict[str, Any]) -> None:
            out.append((state, payload))
            after[alert_id] = _Sent(state, mono, payload)

        for alert in self._engine.alerts(include_resolved=True):
            seen.add(alert.id)
            before = self._sent.get(alert.id)
            if alert.state is AlertState.FIRING and self._held(alert):
                if before is not None:
                    after[alert.id] = before
                continue
            if alert.state is AlertState.PENDING or (alert.state is AlertState.RESOLVED and before is None):
                # not firing (yet), or resolved without ever being sent: nothing new to say, except that a
                # firing episode this forwarder missed the end of is over (a new one is only pending)
                if before is not None and before.state is AlertState.FIRING:
                    send(alert.id, AlertState.RESOLVED, resolved_now(before.payload, now))
                elif before is not None:
                    after[alert.id] = before
                continue
            if before is None or before.state is not alert.state or mono - before.at >= self.resend_interval:
                send(alert.id, alert.state, postable(alert, now, self.resend_interval, self._generator_url))
            else:
                after[alert.id] = before
        for alert_id, before in self._sent.items():
            if alert_id not in seen and before.state is AlertState.FIRING:  # vanished (a reload changed its rule)
                out.append((AlertState.RESOLVED, resolved_now(before.payload, now)))
        return Batch(out, after)

    def sent(self, batch: Batch) -> None:
        """``batch`` reached Alertmanager."""
        for state, _ in batch.items:
            self._alerts_sent.labels(state.value).inc()
        self._sent = batch.after

    async def run_once(self) -> int:
        """Post what is due; the number of alerts posted. Raises AlertmanagerError (nothing is marked sent).
        In a fleet only the evaluating replica posts; one that takes over resends what fires (no re-fire)."""
        if not self._engine.leading:
            self._seeded, self._sent = False, {}
            return 0
        batch = self.due()
        if batch.items:
            await self._client.post_alerts([payload for _, payload in batch.items])
        self.sent(batch)
        return len(batch.items)

    async def run_forever(self, interval: Callable[[], float]) -> None:
        """Check every ``interval()`` seconds (the evaluation interval); while Alertmanager fails, retry after
        the backoff delay instead."""
        failures = 0
        delay = interval()
        while True:
            await asyncio.sleep(delay)
            try:
                await self.run_once()
                failures, delay = 0, interval()
            except AlertmanagerError as e:
                failures += 1
                delay = self.backoff(failures)
                log.warning("alerts not posted to Alertmanager (retrying in %.1f s): %s", delay, e)
            except Exception:
                failures, delay = 0, interval()
                log.exception("forwarding alerts to Alertmanager failed; retrying at the next interval")

    def backoff(self, failures: int) -> float:
        """1 s, 2 s, 4 s ... up to the resend interval, each with up to 10 % jitter."""
        base = min(2.0 ** (failures - 1), max(self.resend_interval, 1.0))
        return base * (1 + random.random() / 10)
