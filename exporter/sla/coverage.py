"""Observed and unobserved time: interval arithmetic over the replicas' sessions (pure functions, milliseconds).

A session is one replica's run for one service: it observed the service from its start to its
latest heartbeat. Time is *unobserved* when no session of any replica covers it, from the moment
monitoring of the service began (its first session ever): before that the service did not exist
for this monitor, after it every gap is time nobody watched. What a gap counts as is the
service's policy (``unobserved: down | exclude`` in monitoring.yml); this module only measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time

Interval = tuple[int, int]  # [start, end) in Unix milliseconds


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals (empty ones dropped)."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def gaps(union: Sequence[Interval], start: int, end: int) -> list[Interval]:
    """The parts of ``[start, end)`` that the (merged) ``union`` leaves uncovered."""
    out: list[Interval] = []
    cursor = start
    for a, b in union:
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def unobserved(union: Sequence[Interval], began: int | None, start: int, end: int) -> int:
    """Milliseconds of ``[start, end)`` after monitoring ``began`` that no session covers."""
    if began is None:
        return 0
    start = max(start, began)
    return sum(b - a for a, b in gaps(union, start, end)) if end > start else 0


def elapsed(began: int | None, start: int, end: int) -> int:
    """Milliseconds of ``[start, end)`` since monitoring began (the time that could have been observed)."""
    return 0 if began is None else max(0, end - max(start, began))


DAY_MS = 86_400_000


def day_bounds(day: str) -> Interval:
    """``2026-11-18`` -> its UTC start and end in milliseconds."""
    start = round(datetime.combine(date.fromisoformat(day), time.min, UTC).timestamp() * 1000)
    return start, start + DAY_MS


def by_day(spans: Sequence[Interval]) -> dict[str, int]:
    """Milliseconds of ``spans`` on each UTC day they touch (``YYYY-MM-DD``), split exactly at midnight."""
    out: dict[str, int] = {}
    for start, end in spans:
        cursor = start
        while cursor < end:
            day_end = (cursor // DAY_MS + 1) * DAY_MS
            piece = min(end, day_end) - cursor
            key = datetime.fromtimestamp(cursor / 1000, UTC).strftime("%Y-%m-%d")
            out[key] = out.get(key, 0) + piece
            cursor += piece
    return out
