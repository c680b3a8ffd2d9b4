"""The per-tenant hash chain on a real SQLite file and a real PostgreSQL schema: verify names the
first broken row whether a row is edited, deleted, swapped or the tail is cut; replicas writing
one tenant at once keep one linear chain."""

from __future__ import annotations

import asyncio

import pytest

from exporter.audit.chain import make_checkpoint, seal, verify_chain, verify_tenants
from exporter.audit.events import Actor, EventDraft, Target
from exporter.audit.recorder import append_events
from exporter.store import Store, open_store
from tests.support.helpers import FakeClock

KEY = b"k" * 32


def draft(i: int, tenant: str = "acme") -> EventDraft:
    return EventDraft(tenant, "usage.report", Actor.api_key("key_1", "svc", "service"), Target("usage", tenant),
                      details={"values": {"cases_created": i}})


async def fill(store: Store, n: int, tenant: str = "acme") -> None:
    clock = FakeClock()
    for i in range(n):
        clock.advance(1)
        await append_events(store, clock, [draft(i, tenant)])


async def row_id(store: Store, seq: int, tenant: str = "acme") -> str:
    rows = await store.fetch("SELECT id FROM audit_events WHERE tenant_id = ? AND seq = ?", tenant, seq)
    return rows[0][0]


async def test_an_untouched_chain_verifies(store: Store) -> None:
    """Events appended one by one and in batches form one chain, seq 1..n, that verifies."""
    await fill(store, 5)
    await append_events(store, FakeClock(), [draft(i) for i in range(5, 10)])
    result = await verify_chain(store, "acme")
    assert (True, 10, 10) == (result.ok, result.checked, result.head_seq)
    rows = await store.fetch("SELECT seq FROM audit_events WHERE tenant_id = ? ORDER BY seq", "acme")
    assert list(range(1, 11)) == [r[0] for r in rows]


WHERE = " WHERE tenant_id = 'acme' AND seq = "
TAMPERING = {  # statements, the seq verify must name, why, the original seq of the row named there
    "edit the details of a row": (
        ["UPDATE audit_events SET details = '{\"values\":{\"cases_created\":999}}'" + WHERE + "4"],
        4, "content does not match its hash", 4),
    "edit the actor of a row": (["UPDATE audit_events SET actor_name = 'someone else'" + WHERE + "2"],
                                2, "content does not match its hash", 2),
    "change a row's time": (["UPDATE audit_events SET time = time - 3600" + WHERE + "5"],
                            5, "content does not match its hash", 5),
    "delete a row in the middle": (["DELETE FROM audit_events" + WHERE + "3"], 4, "seq 3 missing before this row", 4),
    "delete the first row": (["DELETE FROM audit_events" + WHERE + "1"], 2, "seq 1 missing before this row", 2),
    "swap two rows": (["UPDATE audit_events SET seq = -1" + WHERE + "3",
                       "UPDATE audit_events SET seq = 3" + WHERE + "4",
                       "UPDATE audit_events SET seq = 4" + WHERE + "-1"], 3, "prev_hash does not match", 4),
    "delete the last row": (["DELETE FROM audit_events" + WHERE + "6"], 6, "rows at the end were deleted", None),
}


@pytest.mark.parametrize("batch", [1000, 2], ids=["read at once", "two rows a read, the next read while one is hashed"])
@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
async def test_tampering_is_detected_and_the_first_broken_row_named(store: Store, case: str, batch: int) -> None:
    """Editing, deleting or swapping rows makes verify fail at the first broken row, with why."""
    await fill(store, 6)
    ids = {seq: await row_id(store, seq) for seq in range(1, 7)}
    statements, seq, reason, original = TAMPERING[case]
    for statement in statements:
        await store.execute(statement)
    broken = (await verify_chain(store, "acme", batch=batch)).broken
    assert broken is not None
    assert (seq, ids.get(original, "")) == (broken.seq, broken.id)
    assert reason in broken.reason


async def test_a_row_rewritten_with_a_recomputed_hash_breaks_the_next_link(store: Store) -> None:
    """Someone who edits a row and recomputes its hash is caught at the next row's prev_hash."""
    await fill(store, 5)
    second = (await store.audit_chain("acme", after_seq=1, upto_seq=2, limit=1))[0]
    forged = seal(second._replace(details='{"values":{"cases_created":0}}'), second.seq, second.prev_hash)
    await store.execute("UPDATE audit_events SET details = ?, hash = ? WHERE tenant_id = 'acme' AND seq = 2",
                        forged.details, forged.hash)
    result = await verify_chain(store, "acme")
    assert (3, "prev_hash does not match the hash of seq 2") == (result.broken.seq, result.broken.reason[:42])


async def test_a_cut_tail_with_a_rewritten_head_needs_a_checkpoint(store: Store) -> None:
    """Cutting the tail and fixing the head row passes a bare verify, but not one against a
    signed checkpoint taken earlier; a checkpoint signed with another key is rejected."""
    await fill(store, 8)
    heads = await store.audit_heads()
    checkpoint = make_checkpoint(KEY, "acme", heads[0].seq, heads[0].hash, 100.0)
    seventh = await store.fetch("SELECT hash FROM audit_events WHERE tenant_id = 'acme' AND seq = 6")
    await store.execute("DELETE FROM audit_events WHERE tenant_id = 'acme' AND seq > 6")
    await store.execute("UPDATE audit_chain_heads SET seq = 6, hash = ? WHERE tenant_id = 'acme'", seventh[0][0])

    assert (await verify_chain(store, "acme", key=KEY)).ok
    against = await verify_chain(store, "acme", key=KEY, checkpoint=checkpoint)
    assert (8, "missing: a checkpoint records seq 8") == (against.broken.seq, against.broken.reason[:35])
    forged = await verify_chain(store, "acme", key=b"another key, not the one" * 2, checkpoint=checkpoint)
    assert "signature is invalid" in forged.broken.reason


async def test_chains_are_per_tenant(store: Store) -> None:
    """Each tenant has its own chain from seq 1; breaking one leaves the other verified."""
    await fill(store, 3, "acme")
    await fill(store, 2, "globex")
    await store.execute("UPDATE audit_events SET reason = 'x' WHERE tenant_id = 'globex' AND seq = 1")
    results = {v.tenant_id: v for v in await verify_tenants(store, None, key=None)}
    assert (True, 3) == (results["acme"].ok, results["acme"].checked)
    assert (False, 1) == (results["globex"].ok, results["globex"].broken.seq)


async def test_replicas_writing_one_tenant_keep_one_linear_chain(database_url: str) -> None:
    """Two store connections (as two service processes) appending to one tenant at once
    serialise in the database: seq 1..n without gaps or forks, and the chain verifies."""
    replicas = [await open_store(database_url) for _ in range(2)]
    try:
        async def writer(store: Store, n: int) -> None:
            clock = FakeClock()
            for i in range(n):
                await append_events(store, clock, [draft(i), draft(i, "globex"), draft(i)])

        await asyncio.gather(*(writer(replicas[i % 2], 15) for i in range(6)))
        seqs = await replicas[0].fetch("SELECT seq FROM audit_events WHERE tenant_id = 'acme' ORDER BY seq")
        assert list(range(1, 181)) == [r[0] for r in seqs]
        results = await verify_tenants(replicas[1], None, key=None)
        assert [("acme", True, 180), ("globex", True, 90)] == [(v.tenant_id, v.ok, v.checked) for v in results]
    finally:
        for s in replicas:
            await s.close()
