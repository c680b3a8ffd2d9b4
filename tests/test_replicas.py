"""Two service processes on one PostgreSQL behind a round-robin client."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.helpers import make_config_dir
from tests.support.metrics_helpers import value
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run

TENANTS = [
    {"id": "acme", "name": "Acme", "plan": "enterprise", "region": "eu-west",
     "rate_limit": {"requests_per_second": 10000, "burst": 10000}},
    {"id": "small", "name": "Small", "plan": "free", "region": "us-east", "limits": {"api_calls_per_month": 60},
     "rate_limit": {"requests_per_second": 10000, "burst": 10000}},
]
FLUSH = 0.2


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[ServiceProcess]]:
    """Two service processes sharing one PostgreSQL schema (replicas share one database)."""
    make_config_dir(tmp_path / "config", tenants=TENANTS)
    env = {"DATABASE_URL": postgres_url, "USAGE_FLUSH_INTERVAL": str(FLUSH)}
    pair = [ServiceProcess(tmp_path, env), ServiceProcess(tmp_path, env)]
    yield pair
    for p in pair:
        p.kill()


async def test_replicas_add_up_hold_quotas_and_keep_one_audit_chain(replicas: list[ServiceProcess]) -> None:
    """Usage totals add up exactly, a quota holds within one flush interval, the audit chain stays valid,
    and each replica is its own scrape target."""
    a, b = replicas
    keys = {role: a.cli("keys", "create", "--tenant", tenant, "--role", role).stdout.strip()
            for tenant, role in (("acme", "viewer"), ("acme", "service"), ("small", "admin"))}
    for p in replicas:
        p.start()
    urls = itertools.cycle([a.url, b.url])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def get(url: str, path: str, token: str) -> int:
            async with http.get(url + path, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(get(next(urls), "/api/tenant/config", keys["viewer"]) for _ in range(400)))
        assert [200] * 400 == statuses

        async def report(url: str, n: int) -> int:
            async with http.put(url + "/api/tenant/usage", json={"cases_created": n},
                                headers={"Authorization": f"Bearer {keys['service']}"}) as r:
                return r.status

        assert [200] * 60 == await asyncio.gather(*(report(next(urls), n) for n in range(60)))

        admitted = 0
        for _ in range(120):  # one at a time, alternating, slower than the flush interval / 4
            if await get(next(urls), "/api/tenant/limits", keys["admin"]) == 200:
                admitted += 1
            await asyncio.sleep(FLUSH / 4)
        assert 60 <= admitted <= 60 + 2 * 4  # at most one flush interval of requests per replica overshoot

        await asyncio.sleep(3 * FLUSH)
        async with http.get(a.url + "/api/tenant/usage", headers={"Authorization": f"Bearer {keys['viewer']}"}) as r:
            usage = (await r.json())["usage"]
        assert 400 + 60 + 1 == usage["api_calls_this_month"]

        scraped = []
        for p in replicas:
            async with http.get(p.url + "/metrics") as r:
                scraped.append(value(await r.text(), "http_requests_total", route="/api/tenant/config", tenant="acme"))
        assert 400 == sum(scraped) and all(s > 0 for s in scraped)

    for p in replicas:
        assert 0 == p.stop()
    verified = a.cli("audit", "verify", "--tenant", "acme")
    assert 0 == verified.returncode, verified.stdout + verified.stderr
