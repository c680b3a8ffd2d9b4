"""Custom-metric submissions in the audit log, summarised: one event per API key per interval.

A service may post thousands of samples a minute; auditing each would flood the log (and make a
cardinality attack a database attack). Instead each accepted or refused sample is noted in
memory, and every ``interval`` seconds one ``metric.custom.submit`` event per (tenant, key) says
how many samples were accepted, how many were refused and why, which metric names were written
(the first ``MAX_NAMES``, and how many more) and over which period. A crash loses at most one
interval of summaries; the samples themselves are never durable (they are gauges on /metrics).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from exporter.audit.actions import METRIC_CUSTOM_SUBMIT
from exporter.audit.events import SUCCESS, Actor, EventDraft, Outcome, Target
from exporter.audit.recorder import AuditLog
from exporter.auth.principal import Principal
from exporter.core.clock import Clock, isoformat
from exporter.core.errors import StoreError

log = logging.getLogger(__name__)
MAX_NAMES: Final = 20


@dataclass(slots=True)
class _Tally:
    actor: Actor
    first: float
    last: float
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    names: set[str] = field(default_factory=set)
    more_names: int = 0


class SubmissionDigest:
    def __init__(self, audit: AuditLog, clock: Clock) -> None:
        self._audit = audit
        self._clock = clock
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._unsent: list[EventDraft] = []  # summaries whose commit failed: retried at the next flush

    def note(self, principal: Principal, name: str | None, refused: str | None = None) -> None:
        """One sample from ``principal``'s key: accepted (``refused`` None) or refused for that reason.

        Only accepted samples' names are listed (a refused name may be the very abuse being refused).
        """
        now = self._clock.now()
        key = (principal.tenant_id, principal.key_id)
        tally = self._tallies.get(key)
        if tally is None:
            actor = Actor("api_key", principal.key_id, principal.key_name, principal.role)
            tally = self._tallies[key] = _Tally(actor, now, now)
        tally.last = now
        if refused is not None:
            tally.refused[refused] += 1
            return
        tally.accepted += 1
        if name is not None and name not in tally.names:
            if len(tally.names) < MAX_NAMES:
                tally.names.add(name)
            else:
                tally.more_names += 1

    def drafts(self) -> list[EventDraft]:
        """Take what was noted so far, as one event per (tenant, key)."""
        tallies, self._tallies = self._tallies, {}
        out = []
        for (tenant_id, _), t in sorted(tallies.items()):
            refused = sum(t.refused.values())
            outcome = Outcome.failure(f"all {refused} samples refused") if refused and not t.accepted else SUCCESS
            out.append(EventDraft(tenant_id, METRIC_CUSTOM_SUBMIT, t.actor, Target("custom_metrics", tenant_id),
                                  outcome, {"from": isoformat(t.first), "to": isoformat(t.last),
                                            "samples_accepted": t.accepted, "samples_refused": dict(t.refused),
                                            "metrics": sorted(t.names), "more_metrics": t.more_names}))
        return out

    async def flush(self) -> None:
        """Commit the summaries (in one group commit); keep any that fail for the next flush."""
        drafts, self._unsent = [*self._unsent, *self.drafts()], []
        results = await asyncio.gather(*(self._audit.record(d) for d in drafts), return_exceptions=True)
        for draft, result in zip(drafts, results, strict=True):
            if isinstance(result, StoreError):
                self._unsent.append(draft)
            elif isinstance(result, BaseException):
                raise result
        if self._unsent:
            log.warning("%d custom-metric submission summaries not audited yet (store unavailable); retrying",
                        len(self._unsent))

    async def run_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush()
