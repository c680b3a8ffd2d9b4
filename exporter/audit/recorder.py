"""Durable audit writes with group commit, and the sampler for failed logins.

``AuditLog.record(draft)`` queues the event and waits until the transaction holding it has
committed; only then may the caller answer 2xx. One writer task commits whatever is queued in
one transaction (up to ``max_batch`` events): while a commit is in flight, new events gather
for the next one, so under load many requests share one commit (and one fsync) without any
added delay when idle. A failed commit fails every waiter of that batch (503 for a request);
when it failed because the database did not answer (``StoreUnavailable``), the waiters queued
behind it fail with it, instead of waiting a whole store timeout more for the same answer.

``append_events`` writes directly, one transaction, for the command line (no writer task).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from exporter.audit.actions import AUTH_FAILURE
from exporter.audit.chain import seal
from exporter.audit.events import PLATFORM, Actor, EventDraft, Outcome, RequestContext, to_record
from exporter.core.clock import Clock
from exporter.core.errors import StoreError, StoreUnavailable
from exporter.store import AuditRecord, Store

log = logging.getLogger(__name__)

MAX_BATCH: Final = 1000
MISSING_TOKEN: Final = "missing_token"  # noqa: S105  (a reason label, not a secret)
INVALID_TOKEN: Final = "invalid_token"  # noqa: S105  (a reason label, not a secret)
_Waiter = asyncio.Future[AuditRecord] | None


async def append_events(store: Store, clock: Clock, drafts: Sequence[EventDraft]) -> list[AuditRecord]:
    """Commit ``drafts`` now, in one transaction, without a writer task (the CLI's way)."""
    now = clock.now()
    return await store.append_audit([to_record(d, now) for d in drafts], seal)


class AuditLog:
    """The group-committing recorder. ``start()`` / ``stop()`` run its writer task."""

    def __init__(self, store: Store, clock: Clock, registry: CollectorRegistry, *, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._clock = clock
        self._max_batch = max_batch
        self._queue: list[tuple[AuditRecord, _Waiter]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._committing_since: float | None = None  # the oldest event of the commit in flight
        self._events = Counter(
            "tenant_exporter_audit_events_total", "Audit events committed by this process.",
            ["action", "outcome"], registry=registry,
        )
        self._failures = Counter(
            "tenant_exporter_audit_write_failures_total",
            "Audit events whose commit failed (the request that waited for one answered an error).",
            registry=registry,
        )
        self._batches = Histogram(
            "tenant_exporter_audit_commit_batch_events", "Audit events per committed transaction (group commit).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=registry,
        )
        Gauge("tenant_exporter_audit_pending_age_seconds",
              "Age of the oldest audit event not yet committed (0 when none waits): how far writes lag.",
              registry=registry).set_function(self.pending_age)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    def pending_age(self) -> float:
        """Seconds the oldest queued or committing event has waited; 0 when nothing waits."""
        times = [t for t in (self._committing_since, self._queue[0][0].time if self._queue else None) if t is not None]
        return max(0.0, self._clock.now() - min(times)) if times else 0.0

    async def stop(self) -> None:
        """Commit what is queued, then end the writer task."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def record(self, draft: EventDraft) -> AuditRecord:
        """Commit ``draft`` (with others, in one transaction) and return it sealed.

        Raises StoreError (StoreUnavailable -> 503) when the commit fails. Cancelling the caller
        does not withdraw the event: the change it describes has happened.
        """
        waiter: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._enqueue(draft, waiter)
        return await asyncio.shield(waiter)

    async def flush(self) -> None:
        """Return once every event queued so far has been committed (or has failed)."""
        await self._idle.wait()

    def counted(self, records: Sequence[AuditRecord]) -> None:
        """Count events committed together with the change they record, outside the writer task."""
        for record in records:
            self._events.labels(record.action, record.outcome).inc()

    def submit(self, draft: EventDraft) -> None:
        """Queue ``draft`` without waiting (best effort: for events no answer depends on)."""
        self._enqueue(draft, None)

    def _enqueue(self, draft: EventDraft, waiter: _Waiter) -> None:
        if self._task is None or self._task.done():
            raise RuntimeError("the audit writer is not running")
        self._queue.append((to_record(draft, self._clock.now()), waiter))
        self._idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._commit(batch)
            self._idle.set()
            if self._stopping:
                return

    async def _commit(self, batch: list[tuple[AuditRecord, _Waiter]]) -> None:
        self._committing_since = batch[0][0].time
        try:
            sealed = await self._store.append_audit([record for record, _ in batch], seal)
        except Exception as e:  # every waiter must hear of it, whatever it is
            log.error("audit commit of %d event(s) failed: %s", len(batch), e, exc_info=not isinstance(e, StoreError))
            self._fail(batch, e)
            if isinstance(e, StoreUnavailable):
                self._fail_waiting(e)
            return
        finally:
            self._committing_since = None
        self._batches.observe(len(sealed))
        for (_, waiter), record in zip(batch, sealed, strict=True):
            self._events.labels(record.action, record.outcome).inc()
            if waiter is not None and not waiter.done():
                waiter.set_result(record)

    def _fail(self, events: list[tuple[AuditRecord, _Waiter]], error: Exception) -> None:
        self._failures.inc(len(events))
        for _, waiter in events:
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    def _fail_waiting(self, error: StoreUnavailable) -> None:
        """Fail the queued events someone waits for: the database has just not answered within the
        store timeout, and each would wait that long again. Events nobody waits for stay queued."""
        waiting = [event for event in self._queue if event[1] is not None]
        if waiting:
            self._queue = [event for event in self._queue if event[1] is None]
            log.error("%d queued audit event(s) failed with that commit", len(waiting))
            self._fail(waiting, error)


class AuthFailureSampler:
    """Failed logins: every one counted, a sample recorded, so a flood cannot fill the log.

    At most one ``auth.failure`` event per source IP per ``window`` seconds and at most
    ``max_per_window`` in all; the next event from an IP says how many of its failures were left
    out before it (for the ``max_sources`` IPs seen last; the metric counts every one). Memory is
    bounded by ``max_sources``. The token is never recorded, only why it failed.
    """

    def __init__(
        self, audit: AuditLog, clock: Clock, registry: CollectorRegistry, *, window: float = 60.0,
        max_per_window: int = 60, max_sources: int = 10_000,
    ) -> None:
        self._audit = audit
        self._clock = clock
        self._window = window
        self._max_per_window = max_per_window
        self._max_sources = max_sources
        self._last: OrderedDict[str, float] = OrderedDict()
        self._suppressed: dict[str, int] = {}
        self._window_start = -window
        self._in_window = 0
        self._count = Counter(
            "tenant_exporter_auth_failures_total", "Requests refused for a missing or invalid API key.",
            ["reason"], registry=registry,
        )
        self._dropped = Counter(
            "tenant_exporter_audit_auth_failures_suppressed_total",
            "Failed logins counted but not recorded as audit events (sampling).", registry=registry,
        )

    def failed(self, reason: str, context: RequestContext, details: Mapping[str, Any]) -> bool:
        """Count a failed login; record it unless sampled out. True when an event was queued.

        A request that sent no credentials at all is counted only: it is not a login attempt.
        """
        self._count.labels(reason).inc()
        if reason == MISSING_TOKEN:
            return False
        now = self._clock.monotonic()
        source = context.source_ip
        if now - self._window_start >= self._window:
            self._window_start, self._in_window = now, 0
        last = self._last.get(source)
        if (last is not None and now - last < self._window) or self._in_window >= self._max_per_window:
            self._dropped.inc()
            if last is not None:  # only for sources in _last, so that both stay bounded
                self._suppressed[source] = self._suppressed.get(source, 0) + 1
            return False
        self._last[source] = now
        self._last.move_to_end(source)
        while len(self._last) > self._max_sources:
            forgotten, _ = self._last.popitem(last=False)
            self._suppressed.pop(forgotten, None)
        self._in_window += 1
        suppressed = self._suppressed.pop(source, 0)
        self._audit.submit(EventDraft(
            PLATFORM, AUTH_FAILURE, Actor.anonymous(), outcome=Outcome.failure(reason),
            details={**details, "suppressed_before": suppressed}, context=context,
        ))
        return True
