"""Time, injectable: wall-clock seconds for what users see, monotonic seconds for intervals."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...


class SystemClock:
    """The real clocks: ``clock.now`` is ``time.time`` itself (no Python frame on the request path)."""

    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)


def isoformat(ts: float) -> str:
    """RFC 3339 UTC with milliseconds and a ``Z``, as JSON APIs write it."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def month_bounds(ts: float) -> tuple[float, float]:
    """Start and end (exclusive) of the UTC calendar month holding ``ts``."""
    dt = datetime.fromtimestamp(ts, UTC)
    start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
    end = datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


def month_key(ts: float) -> str:
    """``2026-11`` for any time in November 2026 (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Month:
    """A UTC calendar month: its key (``2026-11``) and bounds (start inclusive, end exclusive)."""

    key: str
    start: float
    end: float

    @classmethod
    def of(cls, ts: float) -> Month:
        start, end = month_bounds(ts)
        return cls(month_key(ts), start, end)

    def holds(self, ts: float) -> bool:
        return self.start <= ts < self.end


class MonthCursor:
    """The month of the latest time asked about, recomputed only when a month ends."""

    def __init__(self, ts: float) -> None:
        self.month = Month.of(ts)

    def at(self, ts: float) -> Month:
        month = self.month
        if not month.holds(ts):
            month = self.month = Month.of(ts)
        return month
