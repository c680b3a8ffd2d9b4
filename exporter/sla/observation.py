"""Until when each service was observed, by whom: this replica's sessions and heartbeats, and everyone's.

A session starts when this process has its first result for a service (at the start of the time
that result stands for) and is extended by a heartbeat at every SLA flush while the service's
probes keep producing results, written as one small upsert per service: durable and cheap. The
sessions of every replica are read back, so a gap is unobserved only when no replica observed it.

When this process begins observing a service, the time since the last heartbeat of any replica
is a *gap*: the service's monitor was not running. ``begin`` returns it, so that the tracker can
count a gap long enough as a breach of a service whose unobserved time is downtime.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence

from exporter.sla.coverage import Interval, merged
from exporter.store import SessionRow

STALE_RESULTS = 2  # a service whose latest result is older than 2 intervals (and a timeout) gets no heartbeat


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


class Observation:
    """The sessions in memory: this process's own (live until now) and the others' as last read."""

    def __init__(self, observer: str) -> None:
        self.observer = observer
        self._session = f"{observer}/{secrets.token_hex(6)}"
        self._own: dict[str, tuple[float, float]] = {}  # service -> (started_at, observed_until)
        self._stored: list[SessionRow] = []
        self.began: dict[str, float] = {}  # service -> when any replica first observed it
        self._loaded_since = 0.0

    def load(self, rows: Sequence[SessionRow], first: Mapping[str, float], since: float) -> None:
        """The sessions observed since ``since`` (older ones are not read) and when each service's began."""
        self._loaded_since = since
        self._stored = [r for r in rows if r.id != self._session]
        for service, at in first.items():
            self.began[service] = min(at, self.began.get(service, at))

    def merge(self, rows: Sequence[SessionRow], since: float) -> None:
        """Others' sessions read again (heartbeats moved), replacing what was known of them since ``since``."""
        kept = [r for r in self._stored if r.observed_until < since]
        self._stored = kept + [r for r in rows if r.id != self._session]

    def begin(self, service: str, start: float, until: float) -> Interval | None:
        """This process observes ``service`` from ``start``; the gap before it (ms) if it is the first result."""
        if service in self._own:
            started, seen = self._own[service]
            self._own[service] = (started, max(seen, until))
            return None
        self._own[service] = (start, until)
        began = self.began.get(service)
        self.began[service] = start if began is None else min(began, start)
        if began is None:
            return None  # monitoring of this service begins now: nothing was missed
        before = [to_ms(r.observed_until) for r in self._stored if r.service == service and r.started_at <= start]
        last = max(before, default=to_ms(max(began, self._loaded_since)))
        return (last, to_ms(start)) if to_ms(start) > last else None

    def heartbeat(self, now: float, latest: Mapping[str, tuple[float, float]]) -> list[SessionRow]:
        """Rows that move this process's sessions to ``now``, for services whose probes still report.

        ``latest``: service -> (time of its latest result, its interval in seconds).
        """
        rows = []
        for service, (started, seen) in self._own.items():
            at, interval = latest.get(service, (seen, 0.0))
            until = now if now - at <= STALE_RESULTS * interval + 1.0 else max(seen, at)
            self._own[service] = (started, max(seen, until))
            rows.append(SessionRow(self._session, service, self.observer, started, self._own[service][1]))
        return rows

    def covered(self, service: str, now: float) -> list[Interval]:
        """Every replica's sessions of ``service`` as a union (ms), this process's own live until ``now``."""
        spans: list[Interval] = [(to_ms(r.started_at), to_ms(r.observed_until)) for r in self._stored
                                 if r.service == service]
        own = self._own.get(service)
        if own is not None:
            spans.append((to_ms(own[0]), to_ms(max(own[1], now))))
        return merged(spans)

    def services(self) -> Iterable[str]:
        return self._own.keys()
