"""A small client for Alertmanager's v2 API: post alerts, create, read and expire silences.

Only what the service needs (``api/v2/openapi.yaml``): ``POST /api/v2/alerts`` takes a list of
``postableAlert``; ``POST /api/v2/silences`` answers ``{"silenceID"}``; ``GET
/api/v2/silence/{id}`` answers the silence with ``status.state`` (active, pending, expired) or
404 once Alertmanager forgot it; ``DELETE /api/v2/silence/{id}`` expires it (200 again for an
expired one, 500 "silence not found" for one it never had or forgot).

Every call is counted in ``tenant_exporter_alertmanager_requests_total{operation,result}``; a
failure (connection, timeout, unexpected status) raises ``AlertmanagerError`` for the caller to
retry later. Nothing here retries or sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter

from exporter.core.clock import isoformat
from exporter.core.errors import ExporterError
from exporter.core.outbound import HttpClient, OutboundError

Operation = Literal["post_alerts", "create_silence", "get_silence", "expire_silence"]
OPERATIONS: Final[tuple[Operation, ...]] = ("post_alerts", "create_silence", "get_silence", "expire_silence")


class AlertmanagerError(ExporterError):
    """Alertmanager could not be reached, or answered something other than what the API promises."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    state: str  # active | pending | expired ("gone" when Alertmanager no longer knows it)
    created_by: str = ""
    comment: str = ""

    @property
    def over(self) -> bool:
        return self.state in ("expired", "gone")


class AlertmanagerClient:
    def __init__(self, base_url: str, client: HttpClient, registry: CollectorRegistry,
                 timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._timeout = timeout
        self._requests = Counter(
            "tenant_exporter_alertmanager_requests", "Calls to Alertmanager's API by operation and result.",
            ["operation", "result"], registry=registry,
        )
        for operation in OPERATIONS:
            for result in ("success", "error"):
                self._requests.labels(operation, result)

    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Send firing and resolved alerts (Alertmanager merges them by label set)."""
        await self._call("post_alerts", "POST", "/api/v2/alerts", list(alerts), ok=(200,))

    async def create_silence(self, matchers: Mapping[str, str], *, starts_at: float, ends_at: float,
                             created_by: str, comment: str) -> str:
        """Silence alerts whose labels equal ``matchers``; the new silence's id."""
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                         for k, v in sorted(matchers.items())],
            "startsAt": isoformat(starts_at), "endsAt": isoformat(ends_at),
            "createdBy": created_by, "comment": comment,
        }
        answer = await self._call("create_silence", "POST", "/api/v2/silences", body, ok=(200,))
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise AlertmanagerError(f"POST /api/v2/silences answered no silenceID: {answer!r}")
        return silence_id

    async def get_silence(self, silence_id: str) -> Silence:
        """The silence's state; ``gone`` when Alertmanager does not know it (deleted, or forgotten)."""
        answer = await self._call("get_silence", "GET", f"/api/v2/silence/{silence_id}", None, ok=(200, 404, 422))
        if not isinstance(answer, dict) or "status" not in answer:
            return Silence(silence_id, "gone")
        state = answer["status"].get("state") if isinstance(answer["status"], dict) else None
        if state not in ("active", "pending", "expired"):
            raise AlertmanagerError(f"silence {silence_id} has an unknown state: {answer!r}")
        return Silence(silence_id, state, str(answer.get("createdBy", "")), str(answer.get("comment", "")))

    async def expire_silence(self, silence_id: str) -> None:
        """Expire the silence now; one Alertmanager does not know (500 "silence not found") counts as done."""
        await self._call("expire_silence", "DELETE", f"/api/v2/silence/{silence_id}", None, ok=(200, 404),
                         not_found_text="silence not found")

    async def _call(self, operation: Operation, method: str, path: str, body: Any, *, ok: tuple[int, ...],
                    not_found_text: str | None = None) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._client.request(method, self.base_url + path, json=body)
            text = answer.text()
            if answer.status in ok or (not_found_text is not None and not_found_text in text):
                self._requests.labels(operation, "success").inc()
                if answer.status != 200 or not text.strip():
                    return None
                return answer.json()
            raise AlertmanagerError(f"{method} {path}: HTTP {answer.status}: {text[:200]}")
        except (OutboundError, TimeoutError, ValueError) as e:
            self._requests.labels(operation, "error").inc()
            raise AlertmanagerError(f"{method} {self.base_url}{path}: {type(e).__name__}: {e}") from e
        except AlertmanagerError:
            self._requests.labels(operation, "error").inc()
            raise
