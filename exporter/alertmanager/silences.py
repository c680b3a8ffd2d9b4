"""Acknowledgements mirrored as Alertmanager silences, both ways.

- An open acknowledgement without a silence gets one: matchers equal to the alert's labels
  (``alertname``, ``severity``, ``signal``, ``service``...; not ``source``, so the silence also
  mutes Prometheus's copy of the same alert), ``createdBy`` the acknowledging key's name, the
  comment, and ``endsAt`` = now + ``ALERTMANAGER_SILENCE_DURATION``. Its id is stored with the
  acknowledgement. The replica that evaluates the alert creates it; if another replica stored
  one first, this one expires its own.
- A silence that ends in Alertmanager (expired, deleted, or past its ``endsAt``) ends the
  acknowledgement: it is cleared in the store and audited (``alert.acknowledgement.end``), and
  the alert shows unacknowledged again.
- When the acknowledgement ends because its alert resolved, the silence is expired, so the next
  episode of the alert is not silenced (as an acknowledgement is not carried into it either).

Runs in a background task, woken at once by a new acknowledgement and otherwise every
``ALERTMANAGER_SYNC_INTERVAL`` seconds (the delay before Alertmanager's changes show); the
acknowledging request never waits for Alertmanager. Failures are retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import suppress

from exporter.alertmanager.client import AlertmanagerClient, AlertmanagerError
from exporter.audit.actions import ALERT_ACKNOWLEDGEMENT_END
from exporter.audit.events import PLATFORM, Actor, EventDraft, Target
from exporter.audit.recorder import AuditLog
from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.monitoring.engine import AlertEngine
from exporter.store import AckRecord, Store

log = logging.getLogger(__name__)


class SilenceSync:
    def __init__(self, client: AlertmanagerClient, store: Store, engine: AlertEngine, clock: Clock, audit: AuditLog,
                 *, duration: float, interval: float) -> None:
        self._client = client
        self._store = store
        self._engine = engine
        self._clock = clock
        self._audit = audit
        self.duration = duration
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self, _record: AckRecord | None = None) -> None:
        """Run a pass now (a new acknowledgement wants its silence)."""
        self._wake.set()

    async def run_once(self) -> None:
        """One pass: create missing silences, end acknowledgements whose silence ended, expire leftovers."""
        changed = False
        for record in await self._store.open_acknowledgements():
            if record.silence_id is None:
                changed |= await self._create(record)
            else:
                changed |= await self._check(record, record.silence_id)
        for ack_id, silence_id in await self._store.silences_to_expire():
            await self._client.expire_silence(silence_id)
            await self._store.mark_silence_ended(ack_id, self._clock.now())
            log.info("expired silence %s: its acknowledgement %s ended", silence_id, ack_id)
        if changed:
            await self._engine.reload_acknowledgements()

    async def _create(self, record: AckRecord) -> bool:
        alert = self._engine.get(record.alert_id)
        if alert is None or not alert.active:
            return False  # another replica's alert, or it just ended: not ours to silence
        now = self._clock.now()
        comment = f"Acknowledged in tenant-exporter (alert {alert.id}, acknowledgement {record.id})"
        if record.comment:
            comment += f": {record.comment}"
        silence_id = await self._client.create_silence(
            alert.labels, starts_at=now, ends_at=now + self.duration, created_by=record.key_name or record.key_id,
            comment=comment,
        )
        if await self._store.set_acknowledgement_silence(record.id, silence_id):
            log.info("acknowledgement %s of %s is silence %s", record.id, alert.rule.name, silence_id)
            return True
        await self._client.expire_silence(silence_id)  # another replica was first, or the acknowledgement ended
        return False

    async def _check(self, record: AckRecord, silence_id: str) -> bool:
        silence = await self._client.get_silence(silence_id)
        if not silence.over:
            return False
        if not await self._store.end_acknowledgement_by_silence(record.id, self._clock.now()):
            return False
        log.info("silence %s is %s: acknowledgement %s of %s ended", silence_id, silence.state, record.id,
                 record.alertname)
        await self._audit.record(EventDraft(
            PLATFORM, ALERT_ACKNOWLEDGEMENT_END, Actor.system("alertmanager"),
            Target("alert", record.alert_id, record.alertname),
            details={"acknowledgement_id": record.id, "silence_id": silence_id, "silence_state": silence.state},
        ))
        return True

    async def run_forever(self) -> None:
        """A pass when woken or every interval; backs off (up to 10 intervals) while Alertmanager or the store fail."""
        failures = 0
        while True:
            delay = self.interval if failures == 0 else min(2.0 ** (failures - 1), 10 * self.interval)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay * (1 + random.random() / 10))
            self._wake.clear()
            try:
                await self.run_once()
                failures = 0
            except (AlertmanagerError, StoreError) as e:
                failures += 1
                log.warning("acknowledgements and silences not synchronised (retrying): %s", e)
            except Exception:
                failures += 1
                log.exception("synchronising silences failed; retrying")
