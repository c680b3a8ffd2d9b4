"""Audit search returns exactly the events each filter selects, in order, with or without its indexes.

The answer is computed in Python from the same records (tests/support/audit_search_data.py) and
compared with every page the store returns, following the cursor, newest first and (as exports
read) oldest first. The search reads through different indexes depending on how many rows match
where (store/audit_search.py); with its thresholds made tiny, each of those ways is taken on this
small log too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from exporter.store import AuditFilter, Store, audit_search, audit_text, store_for, text_months
from exporter.store.migrations import MIGRATIONS
from tests.support.audit_search_data import START, events, expected, search_all, write

SEARCH = next(m for m in MIGRATIONS if m.version == 13)  # the audit search indexes
BEFORE_SEARCH = tuple(m for m in MIGRATIONS if m.version < SEARCH.version)  # a log from before them

RECORDS = events()
BIG = ("big",)
SEARCHES = {
    "every event of a tenant": AuditFilter(BIG),
    "every event of every tenant": AuditFilter(None),
    "an actor by id": AuditFilter(BIG, actor="key_alice"),
    "an actor by name, shared by two keys": AuditFilter(BIG, actor="ops"),
    "an actor whose name is another's id": AuditFilter(None, actor="key_carol"),
    "an actor nobody is": AuditFilter(BIG, actor="nobody"),
    "an action prefix that also starts a longer word": AuditFilter(BIG, action="api_key"),
    "an exact action": AuditFilter(BIG, action="api_key.create"),
    "an action prefix, every tenant": AuditFilter(None, action="usage"),
    "an action nobody did": AuditFilter(BIG, action="tenant."),
    "a target by id": AuditFilter(BIG, target="key_3"),
    "a target by name": AuditFilter(BIG, target="Quarterly Report"),
    "failures": AuditFilter(BIG, outcome="failure"),
    "successes of a small tenant": AuditFilter(("small",), outcome="success"),
    "a time range": AuditFilter(BIG, since=START + 200, until=START + 500),
    "a range that ends before it starts": AuditFilter(BIG, since=START + 500, until=START + 200),
    "text in many events": AuditFilter(BIG, text="alpha"),
    "text in another case": AuditFilter(BIG, text="BETA"),
    "text holding an underscore": AuditFilter(BIG, text="gamma_delta"),
    "text holding a percent sign": AuditFilter(BIG, text="100%"),
    "text holding a quote and a backslash": AuditFilter(BIG, text='\\"quoted'),
    "text in a target name": AuditFilter(BIG, text="quarterly"),
    "text in no event": AuditFilter(BIG, text="nothing here"),
    "two-character text": AuditFilter(BIG, text="ph"),
    "text, every tenant": AuditFilter(None, text="back\\\\slash"),
    "a request id": AuditFilter(None, request_id="req-5"),
    "actor and outcome": AuditFilter(BIG, actor="ops", outcome="failure"),
    "action prefix and text": AuditFilter(BIG, action="api_key", text="plain"),
    "target, text and a time range": AuditFilter(BIG, target="big", text="alpha", since=START + 100,
                                                 until=START + 900),
    "actor, action, target and text": AuditFilter(BIG, actor="bob", action="usage", target="big", text="beta"),
    "no tenant at all": AuditFilter(()),
}
TINY = {(audit_search, "PROBE_ROWS"): 8, (audit_search, "TEXT_PROBE_ROWS"): 8, (audit_search, "MAX_PROBE_ROWS"): 20,
        (audit_search, "COUNT_CAP"): 30, (audit_search, "TEXT_COUNT_CAP"): 20,
        (audit_text, "FIRST_CHUNK"): 1, (audit_text, "CHECK_ROWS"): 60, (audit_text, "EDGE_ROWS"): 90,
        (audit_text, "MAX_CANDIDATES"): 100}


@pytest.fixture(params=["as shipped", "tiny thresholds"])
def thresholds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The planner's thresholds as shipped, or tiny, so that this small log takes every path."""
    if request.param == "tiny thresholds":
        for (module, name), value in TINY.items():
            monkeypatch.setattr(module, name, value)
    return str(request.param)


@pytest.fixture
async def upgraded(database_url: str) -> AsyncIterator[Store]:
    """A log written before migration 13, then migrated: its indexes are built (SQLite: the text index is
    still to be filled; PostgreSQL: every index is left to the background, as on a big table)."""
    old = store_for(database_url)
    await old.open()
    await old.migrate(BEFORE_SEARCH)  # type: ignore[call-arg]
    await write(old, RECORDS)
    await old.close()
    store = store_for(database_url)
    store.small_table_rows = 0  # type: ignore[attr-defined]  (PostgreSQL: nothing is built at start-up)
    await store.open()
    await store.migrate()
    yield store
    await store.close()


@pytest.mark.parametrize("case", list(SEARCHES), ids=list(SEARCHES))
async def test_each_search_returns_exactly_the_matching_events_newest_first(
    upgraded: Store, thresholds: str, case: str
) -> None:
    """Every page, cursor after cursor, holds the matching events in (time, id) order, before and after the
    indexes are built, and the first page of 7 is the newest 7."""
    flt = SEARCHES[case]
    want = expected(RECORDS, flt)
    before = await search_all(upgraded, flt, limit=7)
    await upgraded.migrate_online()
    after = await search_all(upgraded, flt, limit=7)
    first = [r.id for r in await upgraded.audit_page(flt, limit=7)]
    assert (want, want, want[:7]) == (before, after, first)


@pytest.mark.parametrize("case", [c for c in SEARCHES if SEARCHES[c].text or SEARCHES[c].actor],
                         ids=[c for c in SEARCHES if SEARCHES[c].text or SEARCHES[c].actor])
async def test_export_order_pages_hold_the_same_events_oldest_first(upgraded: Store, thresholds: str,
                                                                   case: str) -> None:
    """Read oldest first, as exports read, in pages of 11: the same events, in the other order."""
    await upgraded.migrate_online()
    flt = SEARCHES[case]
    assert expected(RECORDS, flt, newest_first=False) == await search_all(upgraded, flt, limit=11,
                                                                          newest_first=False)


async def test_page_offsets_still_work(upgraded: Store, thresholds: str) -> None:
    """The seed's page numbers (an offset) give the same slices of a search as the cursor."""
    await upgraded.migrate_online()
    flt = AuditFilter(BIG, text="alpha", outcome="success")
    want = expected(RECORDS, flt)
    pages = [[r.id for r in await upgraded.audit_page(flt, limit=9, offset=9 * p)] for p in range(4)]
    assert [want[9 * p:9 * p + 9] for p in range(4)] == pages


async def test_events_written_and_deleted_while_the_text_index_fills_are_found_as_stored(database_url: str) -> None:
    """Events added after migration 13 and deleted before the text index reached them are found exactly as
    the table holds them, and SQLite's index agrees with the table at the end (FTS5 integrity-check)."""
    store = store_for(database_url)
    await store.open()
    await store.migrate(BEFORE_SEARCH)  # type: ignore[call-arg]
    await write(store, RECORDS[:300])
    await store.migrate()
    await write(store, RECORDS[300:])  # indexed as they are written
    await store.execute("DELETE FROM audit_events WHERE tenant_id = 'big' AND seq <= 20")  # not indexed yet
    await store.execute("DELETE FROM audit_events WHERE tenant_id = 'small' AND seq >= 50")  # indexed
    await store.migrate_online()
    flt = AuditFilter(None, text="alpha")
    found = await search_all(store, flt, limit=50)
    kept = {r[0] for r in await store.fetch("SELECT id FROM audit_events")}
    if store.backend == "sqlite":
        await store.execute("INSERT INTO audit_events_fts (audit_events_fts) VALUES ('integrity-check')")
    await store.close()
    assert expected([r for r in RECORDS if r.id in kept], flt) == found


MONTHLY = events(600, seed=11, spacing=16 * 3600.0)  # 400 days: 14 calendar months, a month boundary every ~45 events
MONTHLY_SEARCHES = {
    "text in many events": AuditFilter(BIG, text="alpha"),
    "text in another case, every tenant": AuditFilter(None, text="BETA"),
    "text holding an underscore, in a time range across months": AuditFilter(
        BIG, text="gamma_delta", since=START + 60 * 86400, until=START + 200 * 86400),
    "text in no event": AuditFilter(BIG, text="nothing here"),
    "actor and text": AuditFilter(BIG, actor="ops", text="plain"),
}


@pytest.fixture
async def monthly(postgres_url: str) -> AsyncIterator[Store]:
    """PostgreSQL, events over 14 months, every index built (one text index per month among them)."""
    store = store_for(postgres_url)
    await store.open()
    await store.migrate()
    await write(store, MONTHLY)
    await store.migrate_online()
    yield store
    await store.close()


async def month_indexes(store: Store) -> list[str]:
    return sorted(await text_months.indexed(store.fetch))


async def test_postgres_keeps_a_text_index_for_each_month_from_the_oldest_event_to_the_next_month(
    monthly: Store,
) -> None:
    """One per month of the log, and next month's ahead of it; once retention emptied a month, its index goes."""
    spans = text_months.months(min(r.time for r in MONTHLY), max(time.time(), max(r.time for r in MONTHLY)))
    want = [text_months.index_name(start) for start, _ in spans]
    want.append(text_months.index_name(spans[-1][1]))
    have = await month_indexes(monthly)
    oldest = min(MONTHLY, key=lambda r: r.time)
    await monthly.execute("DELETE FROM audit_events WHERE time < ?", text_months.months(oldest.time, oldest.time)[0][1])
    await monthly.migrate_online()
    assert (want, want[1:]) == (have, await month_indexes(monthly))


@pytest.mark.parametrize("case", list(MONTHLY_SEARCHES), ids=list(MONTHLY_SEARCHES))
async def test_postgres_text_searches_month_by_month_find_what_the_whole_log_index_finds(
    monthly: Store, thresholds: str, case: str
) -> None:
    """Every page, newest first and oldest first, through the month indexes; then, with one month's index
    missing (a build in progress), through the index of the whole log: the same events in the same order."""
    flt = MONTHLY_SEARCHES[case]
    want = (expected(MONTHLY, flt), expected(MONTHLY, flt, newest_first=False))
    by_month = (await search_all(monthly, flt, limit=7), await search_all(monthly, flt, limit=11, newest_first=False))
    middle = text_months.index_name(MONTHLY[300].time)
    await monthly.execute(f"DROP INDEX {middle}")
    whole_log = (await search_all(monthly, flt, limit=7), await search_all(monthly, flt, limit=11, newest_first=False))
    assert (want, want) == (by_month, whole_log)

