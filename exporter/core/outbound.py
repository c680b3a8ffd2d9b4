"""Outgoing HTTP as the domain sees it: a request, and the status and body that came back.

Probes, the Prometheus SLA source and the Alertmanager client call other services; the HTTP
library is the edge's business (``http/client.py`` supplies ``HttpClient`` on aiohttp), so the
domain neither imports it nor depends on its exceptions: every failure to get an answer
(connecting, sending, reading) is an ``OutboundError``; callers bound each call with ``asyncio.timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec


class OutboundError(Exception):
    """No answer: the connection failed or broke, or the timeout passed."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError as e:
            raise ValueError(f"not JSON: {e}") from e


class HttpClient(Protocol):
    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      json: Any = None) -> Answer:
        """Send one request (redirects are not followed) and read the whole answer; OutboundError if none came.

        No timeout of its own: callers bound the call with ``asyncio.timeout`` (TimeoutError).
        """
        ...
