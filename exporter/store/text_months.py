"""PostgreSQL's audit text search, one pg_trgm index per calendar month (UTC).

A GIN index cannot be read in time order: it hands over every candidate of a term at once, and each
is then checked in the table. For a term in 0.25 % of 10 M events that is 52,180 candidates, about
390 ms before the first row of a page (docs/performance.md). A partial index per month
(``WHERE time >= start AND time < end``) holds a month's entries only; a search reads the months of
its span newest first (oldest first for exports) and stops once its page is full, so a page costs
what the months it needed hold, not what the whole log holds.

They are built like the declared indexes (``pg_indexes.build``: at start-up while the table is small,
else in the background, concurrently, one replica at a time): every month from the oldest event's to
the one after the current, made while still empty,
and again every ``CHECK_SECONDS`` so that next month's exists before it starts; a month that
retention emptied loses its index. Until every month of a search's span has a valid index, the
search reads the whole-log index of migration 13 (``audit_events_text``) instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from exporter.store.primitives import Tx

log = logging.getLogger(__name__)

TABLE: Final = "audit_events"
PREFIX: Final = "audit_events_text_"
CHECK_SECONDS: Final = 6 * 3600.0  # how often the service makes sure next month's index exists

Fetch = Callable[..., Awaitable[list[Sequence[Any]]]]
Month = tuple[float, float]  # [start, end) in Unix seconds


def _first_of_month(t: float) -> datetime:
    day = datetime.fromtimestamp(t, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def months(low: float, high: float) -> list[Month]:
    """The calendar months from the one holding ``low`` to the one holding ``high``, oldest first."""
    out: list[Month] = []
    month = _first_of_month(low)
    while month.timestamp() <= high:
        following = _next(month)
        out.append((month.timestamp(), following.timestamp()))
        month = following
    return out


def index_name(start: float) -> str:
    return f"{PREFIX}{datetime.fromtimestamp(start, UTC):%Y%m}"


async def indexed(fetch: Fetch) -> set[str]:
    """The month indexes that exist and are valid (a build in progress or interrupted is not)."""
    rows = await fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname LIKE ? AND i.indisvalid",
        PREFIX.replace("_", "\\_") + "%")
    return {str(name) for (name,) in rows}


async def build(session: Tx, trgm: str, *, concurrently: bool, now: float | None = None) -> None:
    """Ensure an index for every month from the oldest event's to the one after ``now`` (or after the newest
    event's, if later); drop those of months before the oldest event. ``concurrently``: without blocking
    writes (a big table; ``session`` then outside a transaction). Holds no lock itself: the caller holds the
    migration lock or the online build lock."""
    now = time.time() if now is None else now
    how = "CONCURRENTLY " if concurrently else ""
    [(oldest, newest)] = await session.fetch(f"SELECT min(time), max(time) FROM {TABLE}")  # noqa: S608
    wanted = months(float(oldest) if oldest is not None else now, max(now, float(newest or now)))
    wanted.append((wanted[-1][1], _next(datetime.fromtimestamp(wanted[-1][1], UTC)).timestamp()))
    states = {str(name): bool(ok) for name, ok in await session.fetch(
        "SELECT c.relname, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname LIKE ?",
        PREFIX.replace("_", "\\_") + "%")}
    if oldest is not None:
        first = index_name(wanted[0][0])
        for name in sorted(n for n in states if n < first):
            log.info("dropping index %s: no events of that month are left", name)
            await session.execute(f"DROP INDEX {how}IF EXISTS {name}")
    for start, end in wanted:
        name = index_name(start)
        if states.get(name):
            continue
        if name in states:
            log.warning("index %s is invalid (an interrupted build): dropping it to build it again", name)
            await session.execute(f"DROP INDEX {how}IF EXISTS {name}")
        started = time.monotonic()
        await session.execute(
            f"CREATE INDEX {how}IF NOT EXISTS {name} ON {TABLE} USING gin "
            f"(lower(details) {trgm}.gin_trgm_ops, lower(target_name) {trgm}.gin_trgm_ops) "
            f"WHERE time >= {start:.0f} AND time < {end:.0f}")
        if concurrently:
            log.info("built index %s in %.1f s", name, time.monotonic() - started)
