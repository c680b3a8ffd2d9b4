"""The shared rate limits without an app: the GCRA script on a real Redis, each replica's shares, and
three replicas' limiters drawing from one bucket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from exporter.config import load_config
from exporter.core.clock import SystemClock
from exporter.core.errors import TooManyRequests
from exporter.settings import Settings
from exporter.store import Store
from exporter.tenancy.catalog import RateLimit, Tenant
from exporter.tenancy.quota import QuotaEnforcer
from exporter.tenancy.redis_gcra import Charge, Level, RedisGcra
from exporter.tenancy.shared_limits import SharedLimits
from exporter.tenancy.usage import UsageTracker
from tests.support.helpers import FakeClock, make_config_dir
from tests.support.redis_server import RedisTarget


def gcra(target: RedisTarget, replica: str = "a", stale: float = 3.0) -> RedisGcra:
    return RedisGcra(target.url, prefix=target.prefix, replica=replica, timeout=1.0, stale=stale)


async def test_a_fresh_bucket_holds_the_burst_and_every_charge_is_paid(redis_target: RedisTarget) -> None:
    """A new tenant's bucket holds its burst; charges lower it, past zero into debt, and the time until it is
    full again grows by one emission interval per request."""
    redis = gcra(redis_target)
    try:
        fleet, [fresh] = await redis.settle([Charge("acme", 10.0, 5, 0)])
        _, [after_three] = await redis.settle([Charge("acme", 10.0, 5, 3)])
        _, [in_debt] = await redis.settle([Charge("acme", 10.0, 5, 7)])
    finally:
        await redis.close()
    assert (1, 5, 1, 0.0) == (fleet, fresh.tokens, fresh.replicas, fresh.full_in)
    assert 2 == after_three.tokens and 0.29 < after_three.full_in <= 0.3
    assert -5 == in_debt.tokens and 0.99 < in_debt.full_in <= 1.0


async def test_the_bucket_refills_on_redis_clock(redis_target: RedisTarget) -> None:
    """Emptied at 20/s, a bucket has about five tokens again a quarter of a second later (Redis's TIME, not ours)."""
    redis = gcra(redis_target)
    try:
        _, [emptied] = await redis.settle([Charge("acme", 20.0, 10, 10)])
        await asyncio.sleep(0.25)
        _, [later] = await redis.settle([Charge("acme", 20.0, 10, 0)])
    finally:
        await redis.close()
    assert 0 == emptied.tokens
    assert 4 <= later.tokens <= 6


async def test_replicas_serving_a_tenant_are_counted_until_they_go_quiet(redis_target: RedisTarget) -> None:
    """Each replica that syncs a tenant counts for its share; one that stops syncing is forgotten after the
    stale time, and the fleet's count of live replicas follows the same rule."""
    a, b = gcra(redis_target, "a", stale=0.3), gcra(redis_target, "b", stale=0.3)
    try:
        await a.settle([Charge("acme", 10.0, 6, 0)])
        both = await b.settle([Charge("acme", 10.0, 6, 0)])
        await asyncio.sleep(0.4)
        alone = await a.settle([Charge("acme", 10.0, 6, 0)])
    finally:
        await a.close()
        await b.close()
    assert (2, 2) == (both[0], both[1][0].replicas)
    assert (1, 1) == (alone[0], alone[1][0].replicas)


async def test_keys_expire_when_nobody_syncs(redis_target: RedisTarget) -> None:
    """A tenant's keys live only as long as its bucket needs to refill plus the stale time: idle tenants cost
    Redis nothing."""
    redis = gcra(redis_target, stale=0.5)
    try:
        await redis.settle([Charge("acme", 10.0, 5, 5)])  # empty: full again in 0.5 s
        bucket, replicas = redis.keys("acme")
        direct = Redis.from_url(redis_target.url)
        ttls = [await direct.pttl(bucket), await direct.pttl(replicas)]
        await direct.aclose()
    finally:
        await redis.close()
    assert 0 < ttls[0] <= 1001 and 0 < ttls[1] <= 501


def test_a_share_admits_its_credit_then_refuses_and_asks_for_a_sync() -> None:
    """A share admits while its credit lasts, counting each admission for the next sync, and asks for that
    sync early (the wake event) once below half its credit or when it refuses."""
    limits = SharedLimits()
    limits.fleet = 2
    share = limits.share("acme", RateLimit(10.0, 8))  # a new share: the fleet's share of a full bucket, 4
    limits.wake.clear()
    taken = [limits.take(share) for _ in range(2)]
    woken_at_half = limits.wake.is_set()
    taken += [limits.take(share) for _ in range(3)]
    assert ([True, True, True, True, False], False, 4) == (taken, woken_at_half, share.spent)
    assert limits.wake.is_set()


@pytest.mark.parametrize(
    ("level", "replicas", "admitted_meanwhile", "expected_credit"),
    [(90, 3, 0, 30), (90, 3, 10, 20), (100, 1, 0, 50), (2, 3, 0, 0), (-7, 3, 0, 0)],
    ids=["a third of the level for each of three replicas", "less what was admitted while the sync was away",
         "never more than the burst", "less than a token each: nothing until the level grows",
         "a bucket in debt gives nothing"])
def test_a_new_credit_is_the_replicas_part_of_the_level(level: int, replicas: int, admitted_meanwhile: int,
                                                        expected_credit: int) -> None:
    """After a sync the credit is floor(level / replicas), capped at the burst, less what was admitted since
    the sync was sent."""
    limits = SharedLimits()
    share = limits.share("acme", RateLimit(100.0, 50))
    [sent] = limits.due()
    share.spent = admitted_meanwhile
    limits.settled([sent], replicas, [Level(level, replicas, 0.5)], now=1.0)
    assert expected_credit == share.credit


async def test_three_replicas_drawing_greedily_hold_the_rate_within_the_stated_bound(
        redis_target: RedisTarget) -> None:
    """Three replicas admitting as fast as their credits allow, each syncing on its own schedule, admit no more
    than one bucket would plus the stated bound (a share of the burst per replica), and over the last second
    the plan's rate within 10 %."""
    rate, burst, seconds = 200.0, 40, 2.0
    replicas = [(SharedLimits(), gcra(redis_target, name)) for name in "abc"]
    admitted: list[float] = []
    clock = SystemClock()

    async def replica(limits: SharedLimits, redis: RedisGcra, phase: float) -> None:
        fleet, levels = await redis.settle([])
        limits.settled([], fleet, levels, clock.monotonic())
        await asyncio.sleep(phase)
        share = limits.share("acme", RateLimit(rate, burst))
        while time.monotonic() < started + seconds:
            while limits.take(share):
                admitted.append(time.monotonic())
            due = limits.due()
            fleet, levels = await redis.settle(limits.charges(due))
            limits.settled(due, fleet, levels, clock.monotonic())
            await asyncio.sleep(0.003)

    started = time.monotonic()
    try:
        await asyncio.gather(*(replica(limits, redis, i * 0.001) for i, (limits, redis) in enumerate(replicas)))
    finally:
        for _, redis in replicas:
            await redis.close()
    elapsed = max(admitted) - started
    assert len(admitted) <= rate * elapsed + burst + 3 * burst
    last_second = sum(1 for t in admitted if t >= started + seconds - 1.0)
    assert rate * 0.9 <= last_second <= rate * 1.1


async def test_replicas_that_agree_on_their_number_share_one_burst(redis_target: RedisTarget) -> None:
    """Three replicas that have each synced the tenant twice (so all count three) admit at once, between them,
    exactly the one burst a single bucket holds. Every admission is charged: credits handed out before the
    others' admissions reached Redis are an overshoot that leaves the bucket in debt, and nothing more is
    given until the debt is paid."""
    rate, burst = 1.0, 30  # a slow refill: the test is about the burst
    replicas = [(SharedLimits(), gcra(redis_target, name)) for name in "abc"]

    async def sync_all() -> int:
        level = 0
        for limits, redis in replicas:
            due = limits.due()
            fleet, levels = await redis.settle(limits.charges(due))
            limits.settled(due, fleet, levels, time.monotonic())
            level = levels[0].tokens
        return level

    def take_all() -> int:
        return sum(1 for (limits, _), share in zip(replicas, shares, strict=True) for _ in range(burst)
                   if limits.take(share))

    try:
        shares = [limits.share("acme", RateLimit(rate, burst)) for limits, _ in replicas]
        await sync_all()
        await sync_all()
        at_once = take_all()
        await sync_all()
        overshoot = take_all()
        in_debt = await sync_all()
        credits = [share.credit for share in shares]
    finally:
        for _, redis in replicas:
            await redis.close()
    assert burst == at_once
    assert 0 < overshoot < burst
    assert (-overshoot, [0, 0, 0]) == (in_debt, credits)


async def test_a_refusal_across_replicas_tells_the_truth_in_its_headers(
        redis_target: RedisTarget, store: Store, tmp_path: Path) -> None:
    """Past the fleet's burst, 429 says the burst policy has nothing left (r=0) and Retry-After names when the
    next sync can admit again; the policy is the plan's own, for the whole fleet, not a per-replica fraction."""
    tenants = [{"id": "acme", "name": "Acme", "plan": "free", "region": "us-east",
                "rate_limit": {"requests_per_second": 2, "burst": 3}}]
    catalog = load_config(Settings.from_env({}, config_dir=make_config_dir(tmp_path / "c", tenants=tenants))).catalog
    tenant: Tenant = catalog.tenants["acme"]
    clock = FakeClock()
    usage = UsageTracker(store, clock)
    await usage.load()
    limits, redis = SharedLimits(), gcra(redis_target)
    quota = QuotaEnforcer(usage, clock, limits)
    try:
        fleet, levels = await redis.settle([])
        limits.settled([], fleet, levels, clock.monotonic())
        answers = [quota.admit(tenant)["RateLimit"] for _ in range(3)]
        with pytest.raises(TooManyRequests) as refused:
            quota.admit(tenant)
    finally:
        await redis.close()
    assert ['"burst";r=2;t=1', '"burst";r=1;t=1', '"burst";r=0;t=2'] == [a.split(", ")[1] for a in answers]
    headers = refused.value.headers
    assert ('"burst";q=3;w=2', '"burst";r=0;t=1', "1") == (
        headers["RateLimit-Policy"].split(", ")[1], headers["RateLimit"].split(", ")[1], headers["Retry-After"])


@pytest.mark.parametrize(
    ("level", "rate", "elapsed", "expected"),
    [(5, 10.0, 0.0, 1), (0, 10.0, 0.0, 1), (-29, 10.0, 0.0, 3), (-29, 10.0, 1.0, 2), (-4, 0.5, 0.0, 10)],
    ids=["tokens left elsewhere: the next sync, a second at most", "empty: the next token is a tenth of a second away",
         "30 tokens in debt at 10/s: three seconds", "a second later: two", "5 in debt at one every 2 s: ten seconds"])
def test_retry_after_is_when_this_replica_can_admit_again(level: int, rate: float, elapsed: float,
                                                          expected: int) -> None:
    """A refusal's Retry-After is the next sync (1 s, the least a header can say) while the fleet's bucket has
    tokens, and the time until its next token when it is in debt."""
    limits = SharedLimits()
    share = limits.share("acme", RateLimit(rate, 50))
    [sent] = limits.due()
    limits.settled([sent], 1, [Level(level, 1, 1.0)], now=100.0)
    assert expected == share.retry_after(100.0 + elapsed)
