"""The real app (``create_app``) served on loopback for a test, with helpers to mint tokens for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from prometheus_client import CollectorRegistry

from exporter.app.services import SERVICES
from exporter.http.server import ProblemAppRunner
from tests.support.helpers import FakeClock, auth, make_token


class Service:
    """The running app under test: its client, its clock and its parts (``services``)."""

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
    """The service's own runner (``http/server.py``: problem+json for what aiohttp cannot parse) and,
    unlike aiohttp's test server, no cancelling of a handler whose client disconnects (``serve``
    does not): a handler finishes what it started."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return ProblemAppRunner(self.app, self.app[SERVICES].protocol_errors,
                                **{**kwargs, "handler_cancellation": False})
