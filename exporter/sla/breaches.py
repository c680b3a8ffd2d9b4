"""Breaches: outage incidents, i.e. runs of consecutive failed probes long enough to matter.

A run starts with a failed probe and ends with the next successful one. It becomes a breach
when it holds at least ``breach_min_failures`` failures, or covers at least
``breach_min_duration`` (a single failure of a probe run every hour covers an hour). A breach
starts where its first failed result's slice starts (``at - interval``) and ends where its last
one ends (that probe's ``at``): its duration is the downtime it holds. While the latest probe
still fails it is *ongoing* (``ended_at`` is None).

A restarted process does not continue a run it did not see end: its open breach ends at its
last failure (``close_stale``), and an outage that goes on starts a new one. With several
replicas each records its own; ``merge`` joins those that overlap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

from exporter.monitoring.services import SlaSettings


@dataclass(frozen=True, slots=True)
class Breach:
    id: str
    service: str
    observer: str
    started_at: float
    last_failure_at: float
    failures: int
    ended_at: float | None
    detail: str

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    def duration_seconds(self, now: float) -> float:
        end = self.ended_at if self.ended_at is not None else max(now, self.last_failure_at)
        return end - self.started_at

    def overlaps(self, start: float, end: float, now: float) -> bool:
        """Whether any part of it lies in ``[start, end)`` (an ongoing breach lasts until ``now``)."""
        until = self.ended_at if self.ended_at is not None else max(now, self.last_failure_at)
        return self.started_at < end and until > start


def breach_id(service: str, observer: str, started_at: float) -> str:
    digest = hashlib.sha256(f"{service}\0{observer}\0{round(started_at * 1000)}".encode()).hexdigest()
    return f"{service}-{digest[:12]}"


@dataclass(slots=True)
class _Run:
    started_at: float
    last_failure_at: float
    failures: int
    detail: str
    qualified: bool = False


class BreachDetector:
    """Follows one service's results as they come; says which breach a result opens, extends or ends."""

    def __init__(self, service: str, observer: str) -> None:
        self.service = service
        self.observer = observer
        self._run: _Run | None = None

    def observe(self, *, success: bool, at: float, weight_seconds: float, detail: str,
                settings: SlaSettings) -> Breach | None:
        run = self._run
        if success:
            self._run = None
            if run is not None and run.qualified:
                return self._breach(run, ended_at=run.last_failure_at)
            return None
        if run is None:
            run = self._run = _Run(at - weight_seconds, at, 0, detail)
        run.failures += 1
        run.last_failure_at = at
        if not run.qualified:
            long_enough = (run.last_failure_at - run.started_at) * 1000 >= settings.breach_min_duration_ms
            run.qualified = run.failures >= settings.breach_min_failures or long_enough
        return self._breach(run, ended_at=None) if run.qualified else None

    def _breach(self, run: _Run, *, ended_at: float | None) -> Breach:
        return Breach(breach_id(self.service, self.observer, run.started_at), self.service, self.observer,
                      run.started_at, run.last_failure_at, run.failures, ended_at, run.detail)


def close_stale(breaches: Iterable[Breach], now: float, stale_after: float) -> list[Breach]:
    """Open breaches whose last failure is older than ``stale_after`` end there (their observer stopped)."""
    return [replace(b, ended_at=b.last_failure_at) if b.ended_at is None and now - b.last_failure_at > stale_after
            else b for b in breaches]


def merge(breaches: Iterable[Breach]) -> list[Breach]:
    """Overlapping breaches of one service (seen by several observers) as one, earliest first."""
    out: list[Breach] = []
    for b in sorted(breaches, key=lambda b: (b.service, b.started_at, b.id)):
        last = out[-1] if out else None
        if last is not None and last.service == b.service and (
                last.ended_at is None or b.started_at <= last.ended_at):
            ended = None if last.ended_at is None or b.ended_at is None else max(last.ended_at, b.ended_at)
            out[-1] = replace(last, last_failure_at=max(last.last_failure_at, b.last_failure_at),
                              failures=max(last.failures, b.failures), ended_at=ended)
        else:
            out.append(b)
    return out
