"""``GET /metrics`` (and, with ``TENANT_METRICS_PATH``, the per-tenant families on their own path): the
Prometheus exposition, rendered by ``telemetry/exposition.py`` (cooperatively, one rendering per format at
a time), behind ``METRICS_TOKEN`` when it is set. A large answer (100,000 tenants: ~60 MB) is written in
pieces as the client reads it, never copied into one buffer, and the loop runs between pieces.

The refusal is answered here, not raised: on ``METRICS_PORT`` the handler runs on a listener of its own,
outside the request pipeline that turns raised problems into answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from aiohttp import web

from exporter.auth.tokens import same_secret
from exporter.core.errors import Unauthorized
from exporter.core.pacing import Pacer
from exporter.http.openapi import operation
from exporter.http.problems import REQUEST_ID, problem_response
from exporter.telemetry.exposition import MetricsRenderer, Rendered, View, gzip_accepted

ONE_BUFFER: Final = 4 * 1024 * 1024  # answers up to this size are joined and sent at once
WRITE: Final = 1024 * 1024  # larger ones are written in pieces of about this size


class MetricsApi:
    def __init__(self, renderer: MetricsRenderer, token: str | None, views: tuple[View, ...]) -> None:
        self._renderer = renderer
        self._expected = f"Bearer {token}" if token else None
        self._views = {view.path: view for view in views}

    def routes(self) -> list[web.RouteDef]:
        main, *tenants = self._views
        return [web.get(main, self.handle_metrics), *(web.get(path, self.handle_tenant_metrics) for path in tenants)]

    @operation(content_type="text/plain; version=0.0.4", query={"name[]": "only these metric names (repeatable)"},
               headers={"Accept": "application/openmetrics-text; version=1.0.0 for OpenMetrics",
                        "Accept-Encoding": "gzip for a compressed answer"}, tags=("metrics",))
    async def handle_metrics(self, request: web.Request) -> web.StreamResponse:
        """Prometheus exposition (text 0.0.4, text 1.0.0 or OpenMetrics by ``Accept``; gzip; ``name[]``)."""
        return await self._answer(request, next(iter(self._views.values())))

    @operation(content_type="text/plain; version=0.0.4", query={"name[]": "only these metric names (repeatable)"},
               headers={"Accept": "application/openmetrics-text; version=1.0.0 for OpenMetrics",
                        "Accept-Encoding": "gzip for a compressed answer"}, tags=("metrics",))
    async def handle_tenant_metrics(self, request: web.Request) -> web.StreamResponse:
        """The per-tenant families (``TENANT_METRICS``), apart from /metrics, for a slower scrape."""
        return await self._answer(request, list(self._views.values())[1])

    async def _answer(self, request: web.Request, view: View) -> web.StreamResponse:
        expected = self._expected
        if expected is not None and not same_secret(request.headers.get("Authorization", ""), expected):
            e = Unauthorized(f"{request.path} needs `Authorization: Bearer <METRICS_TOKEN>`",
                             headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            return problem_response(request, e.status, e.slug, e.title, e.detail, e.headers, e.extra)
        names = tuple(sorted(set(request.query.getall("name[]", []))))
        compress = gzip_accepted(request.headers.get("Accept-Encoding", ""))
        rendered = await self._renderer.render(view, request.headers.get("Accept", ""), names, compress)
        headers = {"Content-Type": rendered.content_type, "Vary": "Accept, Accept-Encoding"}
        if compress:
            headers["Content-Encoding"] = "gzip"
        if rendered.length <= ONE_BUFFER:
            return web.Response(body=b"".join(rendered.parts), headers=headers)
        return await _stream(request, rendered, headers)


async def _stream(request: web.Request, rendered: Rendered, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, "X-Request-ID": request.get(REQUEST_ID, "")})
    response.content_length = rendered.length
    await response.prepare(request)
    await write_in_pieces(response, rendered.parts)
    await response.write_eof()
    return response


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...


async def write_in_pieces(response: Writer, parts: Iterable[bytes]) -> None:
    """``parts`` in writes of about ``WRITE`` bytes, letting the loop run once a slice of time is used up.

    A write waits only when the client's socket is full, and on loopback one rarely is: 57 MB in 1 MB
    writes that never waited held the loop for 25-36 ms (docs/performance.md)."""
    pacer = Pacer()
    batch: list[bytes] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= WRITE:
            await response.write(b"".join(batch))
            batch, size = [], 0
            if pacer.due():
                await pacer.pause()
    if batch:
        await response.write(b"".join(batch))
