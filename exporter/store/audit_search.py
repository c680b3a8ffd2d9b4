"""Audit search at scale: a page of matching events read through the index that fits, on either backend.

Every filter has an index in the answer's order (``(..., time, id)``, migration 13), so a page costs
about what it returns, however many events there are:

- no filter: the scope's index (tenant, time range), from the cursor on;
- a scope of fewer than ``PROBE_ROWS`` rows (a small tenant, a short time range): read whole;
- one filter: its index (actor and target: two reads, by id and by name, merged; an action prefix:
  one read per stored action that starts with it, found by a few index probes; on PostgreSQL the
  keys first, an index-only scan);
- text alone on SQLite: a walk of the FTS5 index in rowid order (``audit_text``);
- otherwise the newest rows of the scope are filtered first (``PROBE_ROWS``, ``TEXT_PROBE_ROWS``,
  read further where they held a few matches), which is enough where matches are common; else the
  filter with the fewest entries (counted up to ``COUNT_CAP`` from its index) drives and the others
  filter what it reads; SQLite's text index is one of the candidates, and PostgreSQL gathers rare
  text through its pg_trgm index: month by month, newest first, through one index per month
  (``text_months``), until the page is full; through the whole-log index while a month's is missing.

Text (``q``) is a case-insensitive substring of details or target name; the substring test is
applied to every row returned, so an index only narrows the candidates: results are the same
with it, without it, or while SQLite's index is still being filled (``fill_search_index``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final

from exporter.store import audit_filters as q
from exporter.store import audit_text, text_months
from exporter.store.primitives import Tx
from exporter.store.records import AuditFilter, AuditRecord

log = logging.getLogger(__name__)

PROBE_ROWS: Final = 4000  # newest rows of the scope filtered before an index drives
TEXT_PROBE_ROWS: Final = 20_000  # the same, with text: a term in 0.25 % of the events is found there
MAX_PROBE_ROWS: Final = 60_000  # a probe that found some matches reads this far for the rest of the page
COUNT_CAP: Final = 10_000  # a driver's entries are counted up to this
TEXT_COUNT_CAP: Final = 1000  # SQLite's text index drives a search with other filters below this
MAX_ACTIONS: Final = 200  # distinct actions read for a prefix; beyond, the prefix filters without an index
FILL_BATCH: Final = 2000  # rows added to SQLite's text index per transaction (about 40 ms)
FILL_PAUSE: Final = 0.01  # seconds between batches, for the writes waiting meanwhile

Progress = Callable[[int, int], None]  # rows done, rows in all


def _paged(query: q.Query, limit: int, offset: int) -> q.Query:
    sql, args = query
    return sql + " OFFSET ?", (*args, limit, offset)


Fetch = Callable[..., Awaitable[list[Sequence[Any]]]]


class _Page:
    """One page: the reads of ``audit_page``, all through ``fetch`` (inside one transaction on PostgreSQL)."""

    def __init__(self, fetch: Fetch, s: q.Search, limit: int, offset: int, *, text_index: bool,
                 by_month: bool = False) -> None:
        self._fetch = fetch
        self._s = s
        self._limit = limit
        self._offset = offset
        self._text_index = text_index  # SQLite's FTS5 index is complete and may drive
        self._by_month = by_month  # PostgreSQL: the text index may be read month by month
        self._months: list[text_months.Month] | None = None  # the scope's months, each with its index
        self._found = 0  # matches the last probe found
        self._walked = False  # the text index was walked already, in vain

    async def read(self) -> list[AuditRecord]:
        s, limit, offset = self._s, self._limit, self._offset
        drivers = list(s.drivers)
        if s.action_prefix is not None:
            actions = await self._actions()
            if actions is not None:
                action = q.action_driver(s, s.action_prefix, actions)
                if not action.branches:
                    return []  # no stored action starts with it
                drivers.append(action)
        if not s.parts:
            return await self._rows(_paged(q.select(s), limit, offset))
        small = await self._count(q.scope_count(s, PROBE_ROWS)) < PROBE_ROWS  # a small tenant, a short range
        if len(drivers) == 1 and len(s.parts) == 1 and not small:  # one filter: its index answers exactly
            return await self._rows(q.union(s, drivers[0], limit, offset))
        if self._text_index and not drivers and s.text is not None and not small:
            page = await audit_text.walk(self._fetch, s, q.fts_phrase(s.text), limit, offset)
            if page is not None:
                return page
            self._walked = True
        if self._by_month and s.text is not None:
            self._months = await self._indexed_months()
        monthly = self._months is not None  # a month of the text index costs less than a wider probe
        window = max(PROBE_ROWS if s.text is None or monthly else TEXT_PROBE_ROWS, 4 * (limit + offset))
        rows = await self._probe(window)
        if rows is None and offset == 0 and self._found and not monthly:  # too few matches: read as far as they
            wider = math.ceil(window * limit / self._found * 1.25)  # should fill the page, if not too far
            rows = await self._probe(wider) if wider <= MAX_PROBE_ROWS else None
        return rows if rows is not None else await self._driven(drivers)

    async def _probe(self, window: int) -> list[AuditRecord] | None:
        """The page among the scope's newest ``window`` rows, if that is exact: the page is full, or
        the window held the whole scope (a small tenant, a short time range). Else None."""
        rows = await self._rows(q.probe(self._s, window, self._limit, self._offset))
        self._found = len(rows)
        if len(rows) == self._limit or await self._count(q.scope_count(self._s, window)) < window:
            return rows
        return None

    async def _driven(self, drivers: list[q.Driver]) -> list[AuditRecord]:
        """The page read through the filter with the fewest entries: a driver, or SQLite's text index."""
        s, limit, offset = self._s, self._limit, self._offset
        sizes: list[tuple[int, int, q.Driver | None]] = []
        for rank, driver in enumerate(drivers):
            sizes.append((sum([await self._count(q.capped_count(s, b, COUNT_CAP)) for b in driver.branches]),
                          rank, driver))
        phrase = q.fts_phrase(s.text) if s.text is not None and self._text_index else None
        if phrase is not None:  # counted to a lower cap: a phrase's matches cost ~10 us each to count
            text = await self._count(q.text_count(phrase, TEXT_COUNT_CAP))
            sizes.append((text if text < TEXT_COUNT_CAP else COUNT_CAP, len(drivers), None))
        if not sizes:  # text alone (PostgreSQL; SQLite while its index fills)
            return await self._gathered() if not s.hints else await self._rows(_paged(q.select(s), limit, offset))
        size, _, best = min(sizes, key=lambda t: (t[0], t[1]))
        if best is None:
            assert phrase is not None
            page = None if self._walked else await audit_text.walk(self._fetch, s, phrase, limit, offset)
            return page if page is not None else await self._rows(q.text_driven(s, phrase, limit, offset))
        if size >= COUNT_CAP and s.text is not None and not s.hints and (self._months is not None or not self._found):
            # PostgreSQL, every filter common, and too few matches among the newest rows (none, without the
            # month indexes): gather the text's matches through pg_trgm rather than read the driver's rows
            return await self._gathered()
        return await self._rows(q.union(s, best, limit, offset))

    async def _gathered(self) -> list[AuditRecord]:
        """PostgreSQL: every match of the text (and the other filters), sorted: month by month where each
        month of the scope has its index, newest month first, until the page is full."""
        s, limit, offset = self._s, self._limit, self._offset
        if self._months is None:
            return await self._rows(_paged(q.gathered(s), limit, offset))
        newest_first = not s.order.startswith("time,")
        wanted = limit + offset
        rows: list[AuditRecord] = []
        for start, end in reversed(self._months) if newest_first else self._months:
            sql, args = q.gathered(q.within(s, start, end))
            rows += await self._rows((sql, (*args, wanted - len(rows))))
            if len(rows) >= wanted:
                break
        return rows[offset:]

    async def _indexed_months(self) -> list[text_months.Month] | None:
        """The months the scope spans, if each has its text index; else None."""
        sql, args = q.scope_span(self._s)
        [(oldest, newest)] = await self._fetch(sql, *args)
        if oldest is None:
            return []
        spans = text_months.months(float(oldest), float(newest))
        have = await text_months.indexed(self._fetch)
        return spans if all(text_months.index_name(start) in have for start, _ in spans) else None

    async def _actions(self) -> list[str] | None:
        """The distinct stored actions (of the tenant); None when there are too many to read one by one."""
        sql, args = q.distinct_actions(self._s.tenant, MAX_ACTIONS + 1)
        rows = await self._fetch(sql, *args)
        return [str(r[0]) for r in rows] if len(rows) <= MAX_ACTIONS else None

    async def _count(self, query: q.Query) -> int:
        sql, args = query
        [(n,)] = await self._fetch(sql, *args)
        return int(n)

    async def _rows(self, query: q.Query) -> list[AuditRecord]:
        sql, args = query
        return [AuditRecord(*r) for r in await self._fetch(sql, *args)]


class AuditSearchMixin:
    """``audit_page`` and the text index upkeep; needs the SqlStore primitives and ``backend``."""

    backend: str
    _text_index_ready: bool = False

    if TYPE_CHECKING:
        async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...

        def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def audit_page(
        self, flt: AuditFilter, *, limit: int, after: tuple[float, str] | None = None, offset: int = 0,
        newest_first: bool = True,
    ) -> list[AuditRecord]:
        s = q.build_search(flt, after=after, newest_first=newest_first, hints=self.backend == "sqlite")
        if s.empty:
            return []
        if self.backend != "postgres":
            text = s.text is not None and len(s.text) >= q.TEXT_MIN_CHARS and await self._text_ready()
            return await _Page(self.fetch, s, limit, offset, text_index=text).read()
        # One snapshot for every read of the page, each planned for its values: a plan cached for
        # one actor or term (asyncpg prepares every statement) would be wrong for another.
        async with self.transaction() as tx:
            await tx.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            await tx.execute("SET LOCAL jit = off")  # compiling costs more than a page takes
            return await _Page(tx.fetch, s, limit, offset, text_index=False, by_month=True).read()

    async def audit_count(self, flt: AuditFilter) -> int:
        """How many events match (the seed's ``page`` paging answers it as ``total``)."""
        s = q.build_search(flt, after=None, newest_first=True, hints=False)
        if s.empty:
            return 0
        where = s.scope + s.filters
        rows = await self.fetch(f"SELECT COUNT(*) FROM audit_events{where.where()}", *where.args)  # noqa: S608
        return int(rows[0][0])

    # --- SQLite's text index ------------------------------------------------------------------
    async def _text_ready(self) -> bool:
        if not self._text_index_ready:
            [(pending,)] = await self.fetch("SELECT pending_upto FROM audit_search_backfill")
            self._text_index_ready = int(pending) == 0
        return self._text_index_ready

    async def fill_search_index(self, progress: Progress | None = None) -> int:
        """SQLite: index the events that predate the text index, newest first, ``FILL_BATCH`` per
        transaction (writes wait at most one batch); return how many. PostgreSQL: nothing to do."""
        if self.backend != "sqlite":
            return 0
        [(pending,)] = await self.fetch("SELECT pending_upto FROM audit_search_backfill")
        total, done = int(pending), 0
        if total:
            log.info("audit search: indexing the text of %d existing event(s) in the background", total)
        while pending > 0:
            low = max(0, int(pending) - FILL_BATCH)
            async with self.transaction() as tx:
                await tx.execute(
                    "INSERT INTO audit_events_fts (rowid, details, target_name) SELECT rowid, details, target_name "
                    "FROM audit_events WHERE rowid > ? AND rowid <= ?", low, pending)
                await tx.execute("UPDATE audit_search_backfill SET pending_upto = ?", low)
            done, pending = done + int(pending) - low, low
            if progress is not None:
                progress(done, total)
            await asyncio.sleep(FILL_PAUSE)
        if total:
            log.info("audit search: text index complete")
        return done
