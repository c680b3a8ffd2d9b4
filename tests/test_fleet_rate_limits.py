"""Global rate limits: three replicas (real processes) on one PostgreSQL and one Redis, under load that is
well above a tenant's plan, with Redis stopped, started again and frozen in the middle of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.fleet import offer, replicas, scrape
from tests.support.helpers import eventually, make_config_dir
from tests.support.redis_server import RedisServer, RedisTarget
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.e2e

RATE, BURST = 50, 50
TENANTS = [{"id": "acme", "name": "Acme", "plan": "enterprise", "region": "eu-west",
            "rate_limit": {"requests_per_second": RATE, "burst": BURST}}]
PATH = "/api/tenant/config"
SHARED = "tenant_exporter_rate_limit_shared"
FAIL_OPEN = "tenant_exporter_rate_limit_fail_open_requests_total"


def start(tmp_path: Path, postgres_url: str, redis: RedisTarget, n: int = 3) -> tuple[list[ServiceProcess], str]:
    make_config_dir(tmp_path / "config", tenants=TENANTS)
    fleet = replicas(tmp_path, {"DATABASE_URL": postgres_url, **redis.env}, n)
    token = fleet[0].cli("keys", "create", "--tenant", "acme", "--role", "viewer").stdout.strip()
    for p in fleet:
        p.start()
    return fleet, token


@pytest.fixture
def stop_after() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for p in started:
        p.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def shared(http: aiohttp.ClientSession, fleet: list[ServiceProcess]) -> list[float | None]:
    return [await scrape(http, p, SHARED) for p in fleet]


async def test_three_replicas_admit_the_plans_rate_between_them(
        tmp_path: Path, postgres_url: str, redis_target: RedisTarget, stop_after: list[ServiceProcess],
        http: aiohttp.ClientSession) -> None:
    """Offered three times its plan's rate through three replicas, a tenant is admitted at its plan's rate
    within 10 % (not three times it), and every answer's RateLimit headers agree with its status."""
    fleet, token = start(tmp_path, postgres_url, redis_target)
    stop_after.extend(fleet)
    tally = await offer(http, [p.url for p in fleet], PATH, token, 3 * RATE, 7.0)
    admitted = tally.admitted_per_second(2.0, 7.0)  # the burst is spent within the first second
    assert RATE * 0.9 <= admitted <= RATE * 1.1, tally.statuses()
    assert {200, 429} == set(tally.statuses())
    assert [] == tally.untruthful()
    assert {f'"burst";q={BURST};w=1'} == {a.headers["RateLimit-Policy"].split(", ")[1] for a in tally.answers}
    assert [1.0, 1.0, 1.0] == await shared(http, fleet)


async def test_redis_stopped_under_load_fails_open_and_recovers_by_itself(
        tmp_path: Path, postgres_url: str, private_redis: RedisServer, stop_after: list[ServiceProcess],
        http: aiohttp.ClientSession) -> None:
    """With Redis stopped under load every request is still answered (each replica limits on its own, says so in
    its metrics and counts what it decided so); started again, Redis is used again without a restart and the
    fleet is back to the plan's rate."""
    fleet, token = start(tmp_path, postgres_url, private_redis.target)
    stop_after.extend(fleet)
    urls = [p.url for p in fleet]
    before = await offer(http, urls, PATH, token, 3 * RATE, 3.0)

    private_redis.stop()
    down = await offer(http, urls, PATH, token, 3 * RATE, 3.0)
    states_down = await shared(http, fleet)
    fail_open = [await scrape(http, p, FAIL_OPEN) for p in fleet]

    private_redis.start()
    await eventually(lambda: _all_shared(http, fleet), "every replica shares its limits again", deadline=10)
    after = await offer(http, urls, PATH, token, 3 * RATE, 4.0)

    assert {200, 429} == set(before.statuses()) | set(after.statuses())
    assert {200} == set(down.statuses()) - {429}, down.statuses()  # answered: no error, no time-out
    assert down.admitted_per_second(1.0, 3.0) > 1.5 * RATE  # per replica: each admits up to the plan's rate
    assert [0.0, 0.0, 0.0] == states_down
    assert all(n is not None and n > 0 for n in fail_open), fail_open
    assert RATE * 0.9 <= after.admitted_per_second(2.0, 4.0) <= RATE * 1.1, after.statuses(2.0, 4.0)
    assert [] == before.untruthful() + down.untruthful() + after.untruthful()


async def test_a_frozen_redis_is_never_waited_on(
        tmp_path: Path, postgres_url: str, private_redis: RedisServer, stop_after: list[ServiceProcess],
        http: aiohttp.ClientSession) -> None:
    """A Redis that stops answering without closing its connections (SIGSTOP) holds up no request: within the
    Redis timeout each replica limits on its own; thawed, the limits are shared again."""
    fleet, token = start(tmp_path, postgres_url, private_redis.target, n=2)
    stop_after.extend(fleet)
    private_redis.freeze()
    try:
        frozen = await offer(http, [p.url for p in fleet], PATH, token, 2 * RATE, 3.0)
        states = await shared(http, fleet)
    finally:
        private_redis.thaw()
    await eventually(lambda: _all_shared(http, fleet), "every replica shares its limits again", deadline=10)
    assert {200} == set(frozen.statuses()) - {429}, frozen.statuses()
    assert [0.0, 0.0] == states


async def _all_shared(http: aiohttp.ClientSession, fleet: list[ServiceProcess]) -> bool:
    return all(state == 1.0 for state in await shared(http, fleet))
