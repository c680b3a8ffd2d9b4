"""What one probe does, per kind of service: the API self-probe and HTTP endpoints (a GET and its
status), TCP endpoints (a connect) and the database (a store ping).

A check answers ``(success, detail)`` or raises; the runner (``probes.py``) times it, applies the
service's timeout, and turns an exception into a failed result. Checks hold no state of their own.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from exporter.core.outbound import HttpClient
from exporter.monitoring.services import ServiceConfig
from exporter.settings import Settings
from exporter.store import Store


class Check(Protocol):
    async def run(self) -> tuple[bool, str]: ...


class HttpCheck:
    """GET ``url`` (no redirects followed); success is exactly the expected status."""

    def __init__(self, url: str, client: HttpClient, expected_status: int = 200) -> None:
        self.url = url
        self._client = client
        self._expected = expected_status

    async def run(self) -> tuple[bool, str]:
        answer = await self._client.request("GET", self.url)
        return answer.status == self._expected, f"HTTP {answer.status}"


class TcpCheck:
    """Open a TCP connection to ``host:port`` and close it again."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    async def run(self) -> tuple[bool, str]:
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.close()
        await writer.wait_closed()
        return True, "connected"


class StoreCheck:
    """Ask the database for ``SELECT 1`` (StoreUnavailable and friends make it fail)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def run(self) -> tuple[bool, str]:
        await self._store.ping()
        return True, f"{self._store.backend} answered"


def api_probe_url(settings: Settings) -> str:
    """``PROBE_API_URL``, else ``/-/ready`` on the listener this process serves (loopback for a wildcard host)."""
    if settings.probe_api_url:
        return settings.probe_api_url
    return f"{settings.listener_url}/-/ready"


def build_check(service: ServiceConfig, settings: Settings, client: HttpClient, store: Store) -> Check:
    """The check for one configured service (the extension point for new kinds)."""
    if service.kind == "self":
        return HttpCheck(api_probe_url(settings), client)
    if service.kind == "store":
        return StoreCheck(store)
    if service.kind == "http":
        return HttpCheck(service.url or "", client, service.expected_status)  # validated: a url is set
    return TcpCheck(service.host or "", service.port or 0)  # validated: an address is set
