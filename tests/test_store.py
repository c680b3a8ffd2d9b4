"""The Store contract, run against a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import asyncio

from exporter.store import AckRecord, ApiKeyRecord, Store, open_store


def key(i: int, tenant: str = "acme", revoked: float | None = None) -> ApiKeyRecord:
    return ApiKeyRecord(f"key_{i}", tenant, "viewer", f"k{i}", f"hash{i}", "tex_abcd…", 100.0 + i, None, revoked)


async def test_migrations_are_idempotent(database_url: str) -> None:
    """Opening the same database twice applies each migration once."""
    first = await open_store(database_url)
    await first.insert_api_key(key(1))
    await first.close()
    second = await open_store(database_url)
    assert ["key_1"] == [r.id for r in await second.list_api_keys()]
    await second.close()


async def test_api_keys_round_trip_and_revoke(store: Store) -> None:
    """Keys are found by hash until revoked; revoking twice is harmless; unknown ids are None."""
    await store.insert_api_key(key(1))
    await store.insert_api_key(key(2, tenant="globex"))
    assert "key_1" == (await store.find_api_key("hash1")).id
    assert ["key_2"] == [r.id for r in await store.list_api_keys("globex")]
    revoked = await store.revoke_api_key("key_1", 500.0)
    assert 500.0 == revoked.revoked_at
    assert 500.0 == (await store.revoke_api_key("key_1", 900.0)).revoked_at
    assert await store.find_api_key("hash1") is None
    active = await store.api_keys_page(tenant_id=None, after=None, limit=10, include_revoked=False)
    everything = await store.api_keys_page(tenant_id=None, after=None, limit=10, include_revoked=True)
    assert (["key_2"], ["key_1", "key_2"]) == ([r.id for r in active], [r.id for r in everything])
    assert ["key_2"] == [r.id for r in await store.api_keys_page(tenant_id=None, after="key_1", limit=1,
                                                                include_revoked=True)]
    assert await store.revoke_api_key("key_404", 1.0) is None
    await store.touch_api_keys({"key_2": 777.0})
    assert 777.0 == (await store.list_api_keys("globex"))[0].last_used_at


async def test_concurrent_replicas_add_up_exactly(database_url: str) -> None:
    """Two store connections adding deltas at once lose nothing (as two replicas would)."""
    a, b = await open_store(database_url), await open_store(database_url)
    try:
        async def flushes(s: Store, n: int) -> None:
            for _ in range(n):
                await s.add_api_calls({("2026-11", "acme"): 3, ("2026-11", "globex"): 1})

        await asyncio.gather(flushes(a, 40), flushes(b, 40))
        await a.add_api_calls({("2026-10", "acme"): 5})
        assert {"acme": 240, "globex": 80} == await b.api_calls("2026-11")
        assert {"acme": 5} == await a.api_calls("2026-10")
    finally:
        await a.close()
        await b.close()


async def test_reported_usage_keeps_the_last_value(store: Store) -> None:
    """Reported usage is last-value per field and tenant."""
    await store.set_reported_usage("acme", {"storage_used_gb": 1.5, "cases_created": 3}, 10.0)
    await store.set_reported_usage("acme", {"cases_created": 4}, 11.0)
    assert {"acme": {"storage_used_gb": 1.5, "cases_created": 4.0}} == await store.reported_usage()


def ack(alert_id: str, at: float, key: str = "key_1", comment: str = "") -> AckRecord:
    return AckRecord(f"ack_{alert_id}_{at}", alert_id, "ErrorRateHigh", "acme", key, "ops", comment, at)


async def test_acknowledging_twice_keeps_the_first(store: Store) -> None:
    """An alert has at most one open acknowledgement; a second one (another replica, a retry) gets the first."""
    first = await store.acknowledge_alert(ack("a1", 10.0, comment="looking"))
    again = await store.acknowledge_alert(ack("a1", 20.0, key="key_2", comment="me too"))
    assert first == again
    assert ("looking", 10.0, None) == (again.comment, again.acknowledged_at, again.cleared_at)
    assert ["a1"] == [r.alert_id for r in await store.open_acknowledgements()]


async def test_concurrent_acknowledgements_leave_one_open(database_url: str) -> None:
    """Two store connections acknowledging the same alert at once both see the same single acknowledgement."""
    a, b = await open_store(database_url), await open_store(database_url)
    try:
        results = await asyncio.gather(*(s.acknowledge_alert(ack("a9", float(i), key=f"k{i}"))
                                         for i, s in enumerate([a, b, a, b])))
        assert 1 == len({r.id for r in results})
        assert 1 == len(await a.open_acknowledgements())
    finally:
        await a.close()
        await b.close()


async def test_cleared_acknowledgements_close_and_a_new_episode_can_be_acknowledged(store: Store) -> None:
    """Clearing closes an alert's acknowledgement (kept as history); the next episode is acknowledged anew."""
    await store.acknowledge_alert(ack("a1", 10.0))
    await store.acknowledge_alert(ack("a2", 11.0))
    await store.acknowledge_alert(ack("a3", 12.0))
    await store.clear_acknowledgements(["a1"], 30.0)
    assert ["a2", "a3"] == [r.alert_id for r in await store.open_acknowledgements()]
    await store.clear_acknowledgements_except(["a3"], 31.0)
    assert ["a3"] == [r.alert_id for r in await store.open_acknowledgements()]
    renewed = await store.acknowledge_alert(ack("a1", 40.0, comment="again"))
    assert ("again", None) == (renewed.comment, renewed.cleared_at)
    await store.clear_acknowledgements_except([], 50.0)
    assert [] == await store.open_acknowledgements()


async def test_an_acknowledgement_keeps_the_first_silence_stored_for_it(store: Store) -> None:
    """The first silence id stored for an open acknowledgement stays; a second (another replica's) is refused."""
    record = await store.acknowledge_alert(ack("a1", 10.0))
    assert (True, False) == (await store.set_acknowledgement_silence(record.id, "s-1"),
                             await store.set_acknowledgement_silence(record.id, "s-2"))
    assert ["s-1"] == [r.silence_id for r in await store.open_acknowledgements()]
    await store.clear_acknowledgements(["a1"], 20.0)
    renewed = await store.acknowledge_alert(ack("a1", 30.0))
    assert (None, [None]) == (renewed.silence_id, [r.silence_id for r in await store.open_acknowledgements()])
    assert False is await store.set_acknowledgement_silence(record.id, "s-3")  # ended: no silence any more


async def test_an_ended_silence_ends_its_acknowledgement_and_needs_no_expiring(store: Store) -> None:
    """Ending an acknowledgement by its silence closes it once; only silences of acknowledgements whose alert
    ended are left to expire, each until marked ended."""
    by_silence = await store.acknowledge_alert(ack("a1", 10.0))
    by_resolve = await store.acknowledge_alert(ack("a2", 11.0))
    await store.acknowledge_alert(ack("a3", 12.0))  # no silence yet: nothing to expire when it ends
    for record, silence in ((by_silence, "s-1"), (by_resolve, "s-2")):
        await store.set_acknowledgement_silence(record.id, silence)
    assert (True, False) == (await store.end_acknowledgement_by_silence(by_silence.id, 20.0),
                             await store.end_acknowledgement_by_silence(by_silence.id, 21.0))
    await store.clear_acknowledgements(["a2", "a3"], 22.0)
    assert [] == await store.open_acknowledgements()
    assert [(by_resolve.id, "s-2")] == await store.silences_to_expire()
    await store.mark_silence_ended(by_resolve.id, 23.0)
    assert [] == await store.silences_to_expire()
