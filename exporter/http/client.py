"""``HttpClient`` (``core/outbound.py``) on aiohttp: one pooled session for every outgoing call,
opened when the app starts and closed when it stops."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from exporter.core.outbound import Answer, OutboundError


class AiohttpClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # no timeout of the session's own (aiohttp's default is 5 minutes): each caller sets its own
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      json: Any = None) -> Answer:
        if self._session is None:
            raise OutboundError("the HTTP client is not open (the app has not started or has stopped)")
        try:
            async with self._session.request(method, url, params=params, json=json,
                                             allow_redirects=False) as response:
                return Answer(response.status, await response.read())
        except aiohttp.ClientError as e:
            raise OutboundError(f"{method} {url}: {type(e).__name__}: {e}") from e
