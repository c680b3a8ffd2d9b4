"""The searches read through their indexes: the database's own query plans say so (``EXPLAIN QUERY PLAN`` on
SQLite, ``EXPLAIN`` on PostgreSQL), on a log of 20,000 events where one tenant holds most of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from exporter.store import AuditFilter, AuditRecord, Store, store_for, text_months
from exporter.store import audit_filters as q
from exporter.store.records import AuditFilter as Filter

N = 20_000
COLUMNS = ", ".join(AuditRecord._fields)


def row(i: int) -> tuple[object, ...]:
    tenant = "big" if i % 10 else f"t{i % 1000:03d}"
    action = ("usage.report", "metric.custom.submit", "api_key.create", "api_key.revoke")[min(3, i % 40 // 10)]
    actor = ("key_svc", "svc") if i % 100 else (f"key_admin{i % 7}", "alice")
    details = json.dumps({"values": {"cases_created": i}, "note": "rare-needle" if i % 5000 == 3 else "usual"})
    return (tenant, i, f"01J{i:023d}", 1_795_000_000.0 + i, action, "api_key", *actor, "admin", "usage", tenant,
            f"Target {i % 300}", "failure" if i % 97 == 0 else "success", "", f"req-{i}", "10.0.0.1", "t", details,
            "1.0", "p", "h")


@pytest.fixture
async def big_log(database_url: str) -> AsyncIterator[Store]:
    store = store_for(database_url)
    await store.open()
    await store.migrate()
    async with store.transaction() as tx:
        marks = ", ".join("?" for _ in AuditRecord._fields)
        await tx.executemany(f"INSERT INTO audit_events ({COLUMNS}) VALUES ({marks})", [row(i) for i in range(N)])
    await store.migrate_online()
    await store.execute("ANALYZE audit_events" if store.backend == "postgres" else "ANALYZE")
    yield store
    await store.close()


async def plan(store: Store, query: q.Query, *, small_table: bool = False) -> str:
    """The query plan; ``small_table``: as PostgreSQL would plan it on a big table (no whole-table scan:
    20,000 rows fit in so few pages that it would rather read them all)."""
    sql, args = query
    if store.backend == "sqlite":
        return "\n".join(str(r[3]) for r in await store.fetch(f"EXPLAIN QUERY PLAN {sql}", *args))
    async with store.transaction() as tx:
        if small_table:
            await tx.execute("SET LOCAL enable_seqscan = off")
        return "\n".join(str(r[0]) for r in await tx.fetch(f"EXPLAIN {sql}", *args))


SINGLE = {  # the filter, and the columns whose indexes it reads (a request id's few rows are sorted after)
    "a tenant's actor, by id and by name": (Filter(("big",), actor="key_admin3"), ["actor_id", "actor_name"]),
    "an actor in every tenant": (Filter(None, actor="alice"), ["actor_id", "actor_name"]),
    "a tenant's target": (Filter(("big",), target="Target 7"), ["target_id", "target_name"]),
    "a tenant's failures": (Filter(("big",), outcome="failure"), ["outcome"]),
    "failures in every tenant": (Filter(None, outcome="failure"), ["outcome"]),
    "a request id": (Filter(None, request_id="req-77"), ["request_id"]),
}


@pytest.mark.parametrize("case", list(SINGLE), ids=list(SINGLE))
async def test_one_filter_reads_its_own_index_in_order(big_log: Store, case: str) -> None:
    """A search by one filter reads each of its equalities through an index on that column (the tenant's or
    every tenant's), already in (time, id) order: no table scan, and (on SQLite, whose plan says so) no sort."""
    flt, columns = SINGLE[case]
    s = q.build_search(flt, after=None, newest_first=True, hints=big_log.backend == "sqlite")
    [driver] = s.drivers
    text = await plan(big_log, q.union(s, driver, 51, 0))
    used = [c for c in columns if f"audit_events_{c}" in text or f"audit_events_tenant_{c}" in text]
    scans = [line for line in text.splitlines() if "SCAN audit_events" in line.upper().replace("SEQ SCAN ON", "SCAN")
             and "INDEX" not in line.upper()]
    sorts = [line for line in text.splitlines()
             if "TEMP B-TREE FOR ORDER BY" in line and len(columns) == 1 and flt.request_id is None]
    assert (columns, [], []) == (used, scans, sorts), text


async def test_an_action_prefix_reads_each_matching_action_through_the_tenants_action_index(big_log: Store) -> None:
    """``action=api_key`` becomes one ordered read per stored action that starts with it."""
    s = q.build_search(Filter(("big",), action="api_key"), after=None, newest_first=True,
                       hints=big_log.backend == "sqlite")
    driver = q.action_driver(s, "api_key", ["api_key.create", "api_key.revoke", "metric.custom.submit"])
    text = await plan(big_log, q.union(s, driver, 51, 0))
    assert (2, ["api_key.create", "api_key.revoke"]) == (
        text.count("audit_events_tenant_action"), [b.where.args[0] for b in driver.branches]), text


async def test_text_is_looked_up_in_the_text_index(big_log: Store) -> None:
    """Free text across every tenant reads the trigram index: SQLite's FTS5 table, PostgreSQL's pg_trgm GIN index."""
    s = q.build_search(Filter(None, text="rare-needle"), after=None, newest_first=True,
                 hints=big_log.backend == "sqlite")
    if big_log.backend == "sqlite":
        text = await plan(big_log, q.text_driven(s, q.fts_phrase("rare-needle"), 51, 0))
        expected = ["SCAN audit_events_fts VIRTUAL TABLE", "SEARCH audit_events USING INTEGER PRIMARY KEY"]
    else:
        sql, args = q.gathered(s)
        text = await plan(big_log, (sql, (*args, 51)), small_table=True)
        expected = ["Bitmap Index Scan on audit_events_text"]
    assert expected == [e for e in expected if e in text], text


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_reads_a_month_of_text_through_that_months_index(big_log: Store) -> None:
    """PostgreSQL reads text a month at a time (store/text_months.py): each month's query is planned on the
    index of that month, which holds a month's entries, not on the whole log's."""
    s = q.build_search(Filter(None, text="rare-needle"), after=None, newest_first=True, hints=False)
    start, end = text_months.months(1_795_000_000.0, 1_795_000_000.0)[0]
    sql, args = q.gathered(q.within(s, start, end))
    text = await plan(big_log, (sql, (*args, 51)), small_table=True)
    assert f"Bitmap Index Scan on {text_months.index_name(start)}" in text, text


async def test_the_newest_rows_of_a_tenant_are_read_in_time_order_from_an_index(big_log: Store) -> None:
    """The probe of a tenant's newest rows reads a time index from the cursor on, without a sort: the
    tenant's (SQLite, told so) or, where the tenant holds nine rows in ten, either (PostgreSQL)."""
    s = q.build_search(AuditFilter(("big",), text="usual", outcome="success"), after=(1_795_010_000.0, "x"),
                 newest_first=True, hints=big_log.backend == "sqlite")
    text = await plan(big_log, q.probe(s, 400, 51, 0))
    lines = text.splitlines()
    ordered = [line for line in lines if "audit_events_tenant_time" in line or "audit_events_time" in line]
    unordered = [line for line in lines if "Sort" in line or ("SCAN audit_events" in line and "INDEX" not in line)]
    assert (True, []) == (bool(ordered), unordered), text
