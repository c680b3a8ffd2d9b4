"""An ``AuditFilter`` as SQL, written once for both backends: the conditions, and the ways to read them.

``Clauses`` are the conditions every returned row satisfies (scope, time range, cursor, and each
filter exactly as the API defines it). A ``Driver`` is one filter seen as a union of equalities an
index can read in (time, id) order: ``actor`` is ``actor_id = v`` or ``actor_name = v``, an action
prefix is one ``action = a`` per stored action that starts with it. Nothing here does I/O.
"""
# ruff: noqa: S608  (f-strings splice column names and "?" marks only; values are bound)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from exporter.store.records import AuditFilter, AuditRecord

COLUMNS: Final = ", ".join(AuditRecord._fields)
_PER_TENANT: Final = frozenset({"action", "outcome"})  # low-cardinality columns, indexed per tenant too
Query = tuple[str, tuple[Any, ...]]  # SQL with "?" marks, and the values they stand for
TEXT_MIN_CHARS: Final = 3  # a trigram index helps from three characters on


@dataclass(frozen=True, slots=True)
class Clauses:
    """Conditions joined by AND, with their arguments in order."""

    sql: tuple[str, ...] = ()
    args: tuple[Any, ...] = ()

    def where(self) -> str:
        return f" WHERE {' AND '.join(self.sql)}" if self.sql else ""

    def __add__(self, other: Clauses) -> Clauses:
        return Clauses(self.sql + other.sql, self.args + other.args)


def clause(sql: str, *args: Any) -> Clauses:
    return Clauses((sql,), args)


@dataclass(frozen=True, slots=True)
class Branch:
    """One equality an index reads in (time, id) order: ``column = value`` through ``index``; it implies
    the filter it comes from (``implies``), which is then left out of the conditions (a planner that
    saw both would count that selectivity twice)."""

    where: Clauses
    index: str
    implies: str


@dataclass(frozen=True, slots=True)
class Driver:
    """A filter an index can read in order: the row matches one of ``branches``."""

    name: str
    branches: tuple[Branch, ...]


@dataclass(frozen=True, slots=True)
class Search:
    """A page request in SQL terms."""

    scope: Clauses  # tenant, time range, cursor: what the (tenant_id, time, id) index reads in order
    parts: tuple[tuple[str, Clauses], ...]  # every other condition, exactly, by filter name
    drivers: tuple[Driver, ...]  # the filters an index can read (the action prefix is expanded later)
    order: str
    text: str | None = None
    action_prefix: str | None = None
    empty: bool = False  # the scope is no tenant at all
    tenant: str | None = None  # the one tenant in scope, if one
    hints: bool = False  # name the index to use (SQLite: ``INDEXED BY``; its planner has no statistics)

    @property
    def filters(self) -> Clauses:
        return self.filters_except("")

    def filters_except(self, name: str) -> Clauses:
        out = Clauses()
        for part, where in self.parts:
            if part != name:
                out += where
        return out

    def scope_index(self) -> str:
        return "audit_events_tenant_time" if self.tenant is not None else "audit_events_time"

    def branch(self, filter_name: str, column: str, value: Any) -> Branch:
        """``column = value``, read through the index for ``column`` (per tenant where there is one)."""
        per_tenant = column in _PER_TENANT and self.tenant is not None
        index = f"audit_events_{'tenant_' if per_tenant else ''}{column}"
        return Branch(clause(f"{column} = ?", value), index, filter_name)


def order_by(newest_first: bool) -> str:
    return "time DESC, id DESC" if newest_first else "time, id"


def like_pattern(text: str) -> str:
    """The LIKE pattern for a case-insensitive substring (``\\`` escapes ``%``, ``_`` and itself)."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts_phrase(text: str) -> str:
    """An FTS5 phrase of ``text``: with the trigram tokenizer, rows holding it as a substring (any case)."""
    return '"' + text.replace('"', '""') + '"'


def build_search(flt: AuditFilter, *, after: tuple[float, str] | None, newest_first: bool, hints: bool) -> Search:
    scope = Clauses()
    tenant = None
    if flt.tenant_ids is not None and len(flt.tenant_ids) == 1:
        tenant = flt.tenant_ids[0]
        scope += clause("tenant_id = ?", tenant)
    elif flt.tenant_ids is not None and flt.tenant_ids:
        scope += Clauses((f"tenant_id IN ({', '.join('?' for _ in flt.tenant_ids)})",), tuple(flt.tenant_ids))
        hints = False  # several tenants: no index reads them in order
    if flt.since is not None:
        scope += clause("time >= ?", flt.since)
    if flt.until is not None:
        scope += clause("time < ?", flt.until)
    if after is not None:
        scope += clause("(time, id) < (?, ?)" if newest_first else "(time, id) > (?, ?)", after[0], after[1])
    s = Search(scope, (), (), order_by(newest_first), flt.text or None, flt.action or None,
               empty=flt.tenant_ids is not None and not flt.tenant_ids, tenant=tenant, hints=hints)
    parts: list[tuple[str, Clauses]] = []
    drivers: list[Driver] = []
    if flt.request_id:
        parts.append(("request_id", clause("request_id = ?", flt.request_id)))
        drivers.append(Driver("request_id", (s.branch("request_id", "request_id", flt.request_id),)))
    if flt.actor:
        parts.append(("actor", clause("(actor_id = ? OR actor_name = ?)", flt.actor, flt.actor)))
        drivers.append(Driver("actor", (s.branch("actor", "actor_id", flt.actor),
                                        s.branch("actor", "actor_name", flt.actor))))
    if flt.target:
        parts.append(("target", clause("(target_id = ? OR target_name = ?)", flt.target, flt.target)))
        drivers.append(Driver("target", (s.branch("target", "target_id", flt.target),
                                         s.branch("target", "target_name", flt.target))))
    if flt.action:
        parts.append(("action", clause("substr(action, 1, ?) = ?", len(flt.action), flt.action)))
    if flt.outcome:
        parts.append(("outcome", clause("outcome = ?", flt.outcome)))
        drivers.append(Driver("outcome", (s.branch("outcome", "outcome", flt.outcome),)))
    if flt.text:
        pattern = like_pattern(flt.text)
        parts.append(("text", clause("(lower(details) LIKE ? ESCAPE '\\' OR lower(target_name) LIKE ? ESCAPE '\\')",
                                     pattern, pattern)))
    return replace(s, parts=tuple(parts), drivers=tuple(drivers))


def action_driver(s: Search, prefix: str, actions: Sequence[str]) -> Driver:
    """The stored ``actions`` that start with ``prefix`` (``substr(action, 1, n) = prefix``), as equalities."""
    return Driver("action", tuple(s.branch("action", "action", a) for a in actions if a.startswith(prefix)))


def _table(s: Search, index: str | None) -> str:
    return f"audit_events INDEXED BY {index}" if s.hints and index else "audit_events"


def select(s: Search, branch: Branch | None = None) -> Query:
    """The rows of the scope matching ``branch`` and every filter, in order (``LIMIT ?`` left to bind)."""
    where = s.scope + branch.where + s.filters_except(branch.implies) if branch else s.scope + s.filters
    table = _table(s, branch.index if branch else s.scope_index())
    return f"SELECT {COLUMNS} FROM {table}{where.where()} ORDER BY {s.order} LIMIT ?", where.args


def gathered(s: Search) -> Query:
    """Every match, then sorted: for PostgreSQL once the newest rows held too few matches. Ordering by
    ``time + 0`` (the same order) keeps the planner from walking the time index and filtering row
    by row, in hope of matches that are not there; it gathers them through its indexes instead
    (pg_trgm for text, a bitmap of each filter's)."""
    sql, args = select(s)
    return sql.replace(f"ORDER BY {s.order}", f"ORDER BY {s.order.replace('time', 'time + 0', 1)}"), args


def text_driven(s: Search, phrase: str, limit: int, offset: int) -> Query:
    """The page from the rows SQLite's text index gives for ``phrase`` (each then tested exactly)."""
    where = s.scope + s.filters
    return (f"SELECT {COLUMNS} FROM (SELECT rowid AS fts_rowid FROM audit_events_fts WHERE audit_events_fts MATCH ?) "
            f"AS f CROSS JOIN audit_events ON audit_events.rowid = f.fts_rowid{where.where()} "
            f"ORDER BY {s.order} LIMIT ? OFFSET ?", (phrase, *where.args, limit, offset))


def union(s: Search, driver: Driver, limit: int, offset: int) -> Query:
    """The page read through ``driver``: each branch's first ``limit + offset`` rows, merged."""
    parts: list[str] = []
    merged: list[Any] = []
    for i, branch in enumerate(driver.branches):
        sql, branch_args = _keys_first(s, branch, limit + offset) if not s.hints else select(s, branch)
        if len(driver.branches) == 1:
            return sql + " OFFSET ?", (*branch_args, limit, offset)
        parts.append(f"SELECT * FROM ({sql}) AS b{i}")
        merged += [*branch_args, limit + offset]
    return f"{' UNION '.join(parts)} ORDER BY {s.order} LIMIT ? OFFSET ?", (*merged, limit, offset)


def _keys_first(s: Search, branch: Branch, rows: int) -> Query:
    """PostgreSQL: the branch's first ``rows`` keys, then their rows. Where the branch's index holds
    every column the keys need (an index-only scan), its plan costs less than walking the time index
    and filtering, so PostgreSQL takes it even where it expects matches to be common among the newest
    rows (it assumes matches spread evenly; a burst of other events at the end is what it misses)."""
    rest = s.filters_except(branch.implies)
    if rest.sql:
        return select(s, branch)
    where = s.scope + branch.where
    return (f"SELECT {COLUMNS} FROM audit_events WHERE (time, id) IN (SELECT time, id FROM audit_events"
            f"{where.where()} ORDER BY {s.order} LIMIT ?) ORDER BY {s.order} LIMIT ?", (*where.args, rows))


def probe(s: Search, rows: int, limit: int, offset: int) -> Query:
    """The page among the scope's first ``rows`` rows only: exact when it comes back full."""
    inner = f"SELECT {COLUMNS} FROM {_table(s, s.scope_index())}{s.scope.where()} ORDER BY {s.order} LIMIT ?"
    return (f"SELECT * FROM ({inner}) AS w{s.filters.where()} ORDER BY {s.order} LIMIT ? OFFSET ?",
            (*s.scope.args, rows, *s.filters.args, limit, offset))


def scope_count(s: Search, cap: int) -> Query:
    """How many rows the scope holds, counted up to ``cap`` (from its index alone)."""
    return (f"SELECT count(*) FROM (SELECT 1 FROM {_table(s, s.scope_index())}{s.scope.where()} LIMIT ?) AS c",
            (*s.scope.args, cap))


def scope_span(s: Search) -> Query:
    """The oldest and newest time in the scope (two probes of its time index)."""
    return f"SELECT min(time), max(time) FROM audit_events{s.scope.where()}", s.scope.args


def within(s: Search, start: float, end: float) -> Search:
    """``s`` narrowed to ``[start, end)``: on PostgreSQL, the condition of that month's text index."""
    return replace(s, scope=s.scope + clause("time >= ?", start) + clause("time < ?", end))


def text_count(phrase: str, cap: int) -> Query:
    """How many rows SQLite's text index gives for ``phrase``, counted up to ``cap``."""
    return "SELECT count(*) FROM (SELECT 1 FROM audit_events_fts WHERE audit_events_fts MATCH ? LIMIT ?) AS c", (
        phrase, cap)


def capped_count(s: Search, branch: Branch, cap: int) -> Query:
    """How many rows of the scope ``branch`` reads, counted up to ``cap`` (from its index alone)."""
    where = s.scope + branch.where
    return (f"SELECT count(*) FROM (SELECT 1 FROM {_table(s, branch.index)}{where.where()} LIMIT ?) AS c",
            (*where.args, cap))


def distinct_actions(tenant: str | None, cap: int) -> Query:
    """Every distinct stored action (of ``tenant``), one index probe each (a loose index scan)."""
    first, args = ("e.tenant_id = ?", (tenant,)) if tenant is not None else ("1 = 1", ())
    sql = (f"WITH RECURSIVE a(action) AS (SELECT (SELECT min(e.action) FROM audit_events AS e WHERE {first}) "
           f"UNION ALL SELECT (SELECT min(e.action) FROM audit_events AS e WHERE {first} AND e.action > a.action) "
           f"FROM a WHERE a.action IS NOT NULL) SELECT action FROM a WHERE action IS NOT NULL LIMIT ?")
    return sql, (*args, *args, cap)
