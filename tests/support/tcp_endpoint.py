"""A real TCP service for probes to reach: a loopback listener the test takes down and brings back."""

from __future__ import annotations

import asyncio

from tests.support.service_process import free_port


async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept a connection and close it at once (waiting until it is closed, so no transport is left behind)."""
    writer.close()
    await writer.wait_closed()


class TcpEndpoint:
    """A real TCP listener on a fixed loopback port; ``down()`` closes it (connects are refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(hang_up, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
