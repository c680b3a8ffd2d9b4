"""The shared rate limits inside one running app: what REDIS_URL changes, and what it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.core.errors import SettingsError
from exporter.settings import Settings
from tests.support.helpers import eventually, make_config_dir
from tests.support.metrics_helpers import value
from tests.support.redis_server import RedisServer, RedisTarget
from tests.support.service import ServiceFactory

TENANTS = [{"id": "acme", "name": "Acme", "plan": "free", "region": "us-east",
            "rate_limit": {"requests_per_second": 1, "burst": 4}}]
SHARED = "tenant_exporter_rate_limit_shared"
FAIL_OPEN = "tenant_exporter_rate_limit_fail_open_requests_total"


async def burst_answers(service, n: int) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    headers = await service.headers("acme")
    out = []
    for _ in range(n):
        r = await service.client.get("/api/tenant/config", headers=headers)
        out.append((r.status, r.headers["RateLimit"].split(", ")[1]))
    return out


async def test_without_redis_url_nothing_changes(make_service: ServiceFactory, tmp_path: Path) -> None:
    """Without REDIS_URL there is no sync and no shared-limit metric, and the replica's own bucket answers as
    it always did."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=TENANTS))
    text = await (await service.client.get("/metrics")).text()
    answers = await burst_answers(service, 5)
    assert (None, None, None) == (service.services.rate_sync, value(text, SHARED), value(text, FAIL_OPEN))
    assert [200, 200, 200, 200, 429] == [status for status, _ in answers]


async def test_with_redis_the_burst_is_the_fleets(make_service: ServiceFactory, tmp_path: Path,
                                                  redis_target: RedisTarget) -> None:
    """With REDIS_URL the replica shares its limits from the start: the tenant's burst is counted in Redis,
    the headers count it down and the refusal says r=0, and the metrics say the limits are shared."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=TENANTS),
                                 **redis_target.settings)
    answers = await burst_answers(service, 5)
    text = await (await service.client.get("/metrics")).text()
    assert [(200, '"burst";r=3;t=1'), (200, '"burst";r=2;t=2'), (200, '"burst";r=1;t=3'),
            (200, '"burst";r=0;t=4'), (429, '"burst";r=0;t=1')] == answers
    assert (1.0, 0.0) == (value(text, SHARED), value(text, FAIL_OPEN))


async def test_with_redis_unreachable_at_start_the_replica_serves_and_shares_once_it_answers(
        make_service: ServiceFactory, tmp_path: Path, private_redis: RedisServer) -> None:
    """A replica whose Redis is down when it starts serves anyway with its own limits (fail open), counts the
    requests it decided so, and shares its limits by itself once Redis answers."""
    private_redis.stop()
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=TENANTS),
                                 **private_redis.target.settings)
    answers = await burst_answers(service, 5)
    before = await (await service.client.get("/metrics")).text()
    private_redis.start()

    async def shared() -> bool:
        return value(await (await service.client.get("/metrics")).text(), SHARED) == 1.0

    await eventually(shared, "the limits are shared once Redis answers", deadline=10)
    assert [200, 200, 200, 200, 429] == [status for status, _ in answers]
    assert (0.0, 5.0) == (value(before, SHARED), value(before, FAIL_OPEN))


@pytest.mark.parametrize("url", ["http://cache:6379", "redis//nohost", "postgresql://u:secret@db/x"],
                         ids=["an http URL", "no scheme", "another database's URL (with a password)"])
def test_a_redis_url_that_is_not_one_is_refused_without_echoing_it(url: str) -> None:
    """REDIS_URL must be redis://, rediss:// or unix://; the error says so and never repeats the value (it may
    hold a password)."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"REDIS_URL": url})
    assert url not in str(refused.value) and "REDIS_URL must be a redis://" in str(refused.value)
