"""Fixtures: a real SQLite file and a real PostgreSQL schema per test, and the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from prometheus_client import CollectorRegistry

from exporter.app.composition import create_app
from exporter.app.services import SERVICES
from exporter.http.server import ProblemAppRunner
from exporter.settings import Settings
from exporter.store import Store, open_store
from tests.helpers import TWO_TENANTS, FakeClock, auth, make_config_dir, make_token
from tests.pg_instance import PgInstance
from tests.service_process import free_port
from tests.tcp_endpoint import TcpEndpoint

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty schema on the PostgreSQL server (TEST_POSTGRES_URL), dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_URL)
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
    pg = PgInstance().start()
    yield pg
    pg.destroy()


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


class Service:
    """The running app under test, with helpers to mint tokens for it."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.app = client.server.app
        self.services = self.app[SERVICES]

    @property
    def registry(self) -> CollectorRegistry:
        return self.services.registry

    async def token(self, tenant: str, role: str = "viewer") -> str:
        catalog = self.services.config.current.catalog
        return await make_token(self.services.store, catalog, self.clock, tenant, role)

    async def headers(self, tenant: str, role: str = "viewer", **extra: str) -> dict[str, str]:
        return auth(await self.token(tenant, role), **extra)


ServiceFactory = Callable[..., Awaitable[Service]]


class ServedAsInProduction(TestServer):
    """The service's own runner (http_server.py: problem+json for what aiohttp cannot parse) and,
    unlike aiohttp's test server, no cancelling of a handler whose client disconnects (``serve``
    does not): a handler finishes what it started."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return ProblemAppRunner(self.app, self.app[SERVICES].protocol_errors,
                                **{**kwargs, "handler_cancellation": False})


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
