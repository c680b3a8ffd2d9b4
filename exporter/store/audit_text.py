"""SQLite text search that costs what a page costs: walk the FTS5 index in rowid order, prove the order.

FTS5 gives the rows holding a phrase in rowid order, newest insert first, as far as one reads;
rowids follow insert order, and so, nearly, event time. The walk reads candidates a chunk at a
time and keeps the matches (scope, filters, exact substring). Once it holds a page, the page is
exact if no row the walk has not reached (rowid below the last one read) comes before the page's
last row in (time, id) order: that is checked on the scope's time index, which holds each row's
rowid, over the rows between the page's last row and the cursor (at most ``CHECK_ROWS``), or else
over the rows past the walk's edge (at most ``EDGE_ROWS``). A page that cannot be proven either
way (or a walk past ``MAX_CANDIDATES``) is read the plain way: every candidate, then sorted.
Export pages (oldest first) walk the other way.
"""
# ruff: noqa: S608  (f-strings splice column names, index names and "?" marks only; values are bound)

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from exporter.store import audit_filters as q
from exporter.store.records import AuditRecord

FIRST_CHUNK: Final = 4  # candidates read first, per row wanted; each further chunk reads four times more
MAX_CANDIDATES: Final = 50_000  # a walk that reads this many candidates gives way to the plain read
CHECK_ROWS: Final = 100_000  # time-index entries the proof may read
EDGE_ROWS: Final = 150_000  # or rows past the walk's edge

Fetch = Callable[..., Awaitable[list[Sequence[Any]]]]


async def walk(fetch: Fetch, s: q.Search, phrase: str, limit: int, offset: int) -> list[AuditRecord] | None:
    """The page, or None when the walk cannot prove it (the caller reads every candidate then)."""
    newest_first = s.order.startswith("time DESC")
    need = limit + offset
    matches: list[tuple[Any, ...]] = []  # rows with their rowid last
    edge: int | None = None  # the last candidate rowid read
    chunk = FIRST_CHUNK * need
    read = 0
    while read < MAX_CANDIDATES:
        bound = "" if edge is None else (" AND rowid < ?" if newest_first else " AND rowid > ?")
        candidates = [r[0] for r in await fetch(
            f"SELECT rowid FROM audit_events_fts WHERE audit_events_fts MATCH ?{bound} "
            f"ORDER BY rowid {'DESC' if newest_first else 'ASC'} LIMIT ?",
            phrase, *(() if edge is None else (edge,)), chunk)]
        read += len(candidates)
        if candidates:
            edge = candidates[-1]
            where = s.scope + s.filters
            marks = ", ".join("?" for _ in candidates)
            rest = "".join(f" AND {c}" for c in where.sql)
            table = "audit_events NOT INDEXED" if s.hints else "audit_events"  # rowid lookups only
            matches += [tuple(r) for r in await fetch(
                f"SELECT {q.COLUMNS}, rowid FROM {table} WHERE rowid IN ({marks}){rest}", *candidates, *where.args)]
        matches.sort(key=lambda r: (r[3], r[2]), reverse=newest_first)  # (time, id)
        if len(candidates) < chunk:  # every candidate read: the matches are all there is
            return _page(matches, limit, offset)
        if len(matches) >= need:
            proof = await _unread_before(fetch, s, matches[need - 1], edge, newest_first)
            if proof is None:  # too many rows between the cursor and the page's end: no proof this way
                return None
            if not proof:
                return _page(matches, limit, offset)
        chunk *= 4
    return None


async def _unread_before(fetch: Fetch, s: q.Search, last: tuple[Any, ...], edge: int | None,
                         newest_first: bool) -> bool | None:
    """Whether a row the walk has not reached (past ``edge``) comes before ``last``, the page's last row;
    None when neither way of telling is short enough: the rows of the scope between the cursor and
    ``last`` (on its time index, which holds each row's rowid), or the rows past the edge (the table
    in rowid order: where a term was common long ago and rare since, the page ends near the start).
    The one that looks shorter (rowids are about as many as rows) is tried first."""
    assert edge is not None
    [(top,)] = await fetch("SELECT max(rowid) FROM audit_events")
    between, beyond = abs(int(top or 0) - int(last[-1])), int(edge) if newest_first else int(top or 0) - int(edge)
    checks = (_between, _beyond) if between <= beyond else (_beyond, _between)
    for check in checks:
        answer = await check(fetch, s, last, int(edge), newest_first)
        if answer is not None:
            return answer
    return None


async def _between(fetch: Fetch, s: q.Search, last: tuple[Any, ...], edge: int, newest_first: bool) -> bool | None:
    before = "(time, id) > (?, ?)" if newest_first else "(time, id) < (?, ?)"
    where = s.scope + q.clause(before, last[3], last[2])
    table = f"audit_events INDEXED BY {s.scope_index()}" if s.hints else "audit_events"
    [(seen, late)] = await fetch(
        f"SELECT count(*), COALESCE(sum(r {'<' if newest_first else '>'} ?), 0) FROM "
        f"(SELECT rowid AS r FROM {table}{where.where()} LIMIT ?) AS c", edge, *where.args, CHECK_ROWS)
    return bool(int(late)) if int(late) or int(seen) < CHECK_ROWS else None


async def _beyond(fetch: Fetch, s: q.Search, last: tuple[Any, ...], edge: int, newest_first: bool) -> bool | None:
    [(rows, extreme)] = await fetch(
        f"SELECT count(*), {'max' if newest_first else 'min'}(time) FROM (SELECT time FROM audit_events "
        f"WHERE rowid {'<' if newest_first else '>'} ? ORDER BY rowid {'DESC' if newest_first else ''} LIMIT ?) AS c",
        edge, EDGE_ROWS)
    if int(rows) >= EDGE_ROWS or (extreme is not None and extreme == last[3]):
        return None
    return extreme is not None and (extreme > last[3] if newest_first else extreme < last[3])


def _page(matches: list[tuple[Any, ...]], limit: int, offset: int) -> list[AuditRecord]:
    return [AuditRecord(*r[:-1]) for r in matches[offset:offset + limit]]
