"""Fixtures: a real SQLite file and a real PostgreSQL schema per test, Redis, and the real app.

Every test that needs PostgreSQL is marked ``postgres`` (``-m 'not postgres'`` leaves them out) and
skips with the reason when no server answers at TEST_POSTGRES_URL, unless TEST_REQUIRE_ALL is set:
then a missing server fails the run. ``scripts/test`` (and so CI) sets it, so nothing is skipped there.
Tests that need Redis are marked ``redis`` and follow the same rule (the machine's server at
127.0.0.1:6379 with a key prefix of their own, or a private ``redis-server`` they may stop).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from exporter.app.composition import create_app
from exporter.settings import Settings
from exporter.store import Store, open_store
from tests.support.chromium import Chromium
from tests.support.helpers import TWO_TENANTS, FakeClock, make_config_dir
from tests.support.pg_instance import PgInstance
from tests.support.redis_server import SHARED_URL, RedisServer, RedisTarget, answers, unique_prefix
from tests.support.service import ServedAsInProduction, Service, ServiceFactory
from tests.support.service_process import free_port
from tests.support.tcp_endpoint import TcpEndpoint

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_ALL = os.environ.get("TEST_REQUIRE_ALL", "") not in ("", "0", "false")
_POSTGRES_FIXTURES = frozenset({"postgres_url", "private_pg"})
_REDIS_FIXTURES = frozenset({"redis_target", "private_redis"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches PostgreSQL (a fixture of its, or the postgres leg of ``database_url``)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if fixtures & _POSTGRES_FIXTURES or params.get("database_url") == "postgres":
            item.add_marker(pytest.mark.postgres)
        if fixtures & _REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)


def unavailable(what: str) -> None:
    """Skip for want of ``what``, or fail when the run requires everything (TEST_REQUIRE_ALL)."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} (TEST_REQUIRE_ALL is set: nothing may be skipped)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The pinned node tools (openapi-typescript, tsc, the Prometheus Operator's CRD validators)."""
    from tests.support import node_tools

    if (why := node_tools.missing()) is not None:
        unavailable(why)
    return node_tools.NODE_TOOLS


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl, for `kubectl kustomize` (the machine image has one; scripts/test installs one where it does not)."""
    import shutil

    found = shutil.which("kubectl")
    if found is None:
        unavailable("no kubectl: scripts/test installs Debian's kubernetes-client")
    return str(found)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty schema on the PostgreSQL server (TEST_POSTGRES_URL), dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        unavailable(f"no PostgreSQL at TEST_POSTGRES_URL ({type(e).__name__}: {e})")
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{sep}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@pytest.fixture
async def cache() -> AsyncIterator[TcpEndpoint]:
    """The `cache` service the SLA tests probe: a real TCP listener, up until the test takes it down."""
    endpoint = TcpEndpoint()
    await endpoint.up()
    yield endpoint
    await endpoint.down()


@pytest.fixture
def private_pg() -> Iterator[PgInstance]:
    """A PostgreSQL server of this test's own (data directory, port), which it may stop and start."""
    try:
        pg = PgInstance().start()
    except FileNotFoundError as e:
        unavailable(f"cannot start a private PostgreSQL: {e}")
    yield pg
    pg.destroy()


@pytest.fixture
def redis_target() -> RedisTarget:
    """The machine's Redis (127.0.0.1:6379) with a key prefix of this test's own."""
    if shutil.which("redis-cli") is None or not answers(6379):
        unavailable("no Redis answers at 127.0.0.1:6379")
    return RedisTarget(SHARED_URL, unique_prefix())


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop, start again, freeze and thaw."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (Debian: redis-server)")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tenant-exporter.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await open_store(database_url)
    yield s
    await s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return make_config_dir(tmp_path / "config", tenants=TWO_TENANTS)


@pytest.fixture
async def make_service(
    database_url: str, config_dir: Path, clock: FakeClock, aiohttp_client: Any
) -> ServiceFactory:
    """Start the real app (create_app) on loopback; keyword arguments override Settings.

    ``aiohttp_client`` comes last so that it is torn down first: the app stops (committing queued
    audit events) before the database is dropped.
    """

    async def start(**overrides: Any) -> Service:
        port = overrides.pop("port", None) or free_port()  # the self-probe calls the port in Settings
        overrides.setdefault("probe_at_start", False)  # tests probe when they choose (run_once)
        settings = Settings.from_env({}, config_dir=overrides.pop("config_dir", config_dir),
                                     database_url=overrides.pop("database_url", database_url), port=port,
                                     **overrides)
        app = create_app(settings, registry=CollectorRegistry(), clock=clock)
        client = await aiohttp_client(ServedAsInProduction(app, port=port))
        return Service(client, clock)

    return start


@pytest.fixture
async def service(make_service: ServiceFactory) -> Service:
    return await make_service()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    """Headless Chromium (Debian's), driven over the DevTools protocol; stopped after the test."""
    browser = Chromium(tmp_path).start()
    yield browser
    browser.stop()
