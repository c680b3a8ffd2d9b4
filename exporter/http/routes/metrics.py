"""``GET /metrics``: the Prometheus exposition, rendered by ``telemetry/exposition.py`` (cooperatively,
one rendering per format at a time), behind ``METRICS_TOKEN`` when it is set.

The refusal is answered here, not raised: on ``METRICS_PORT`` the handler runs on a listener of its own,
outside the request pipeline that turns raised problems into answers.
"""

from __future__ import annotations

from aiohttp import web

from exporter.auth.tokens import same_secret
from exporter.core.errors import Unauthorized
from exporter.http.openapi import operation
from exporter.http.problems import problem_response
from exporter.telemetry.exposition import MetricsRenderer, gzip_accepted


class MetricsApi:
    def __init__(self, renderer: MetricsRenderer, token: str | None) -> None:
        self._renderer = renderer
        self._expected = f"Bearer {token}" if token else None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.handle_metrics)]

    @operation(content_type="text/plain; version=0.0.4", query={"name[]": "only these metric names (repeatable)"},
               headers={"Accept": "application/openmetrics-text; version=1.0.0 for OpenMetrics",
                        "Accept-Encoding": "gzip for a compressed answer"}, tags=("metrics",))
    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Prometheus exposition (text 0.0.4, text 1.0.0 or OpenMetrics by ``Accept``; gzip; ``name[]``)."""
        expected = self._expected
        if expected is not None and not same_secret(request.headers.get("Authorization", ""), expected):
            e = Unauthorized("this /metrics needs `Authorization: Bearer <METRICS_TOKEN>`",
                             headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            return problem_response(request, e.status, e.slug, e.title, e.detail, e.headers, e.extra)
        names = tuple(sorted(set(request.query.getall("name[]", []))))
        compress = gzip_accepted(request.headers.get("Accept-Encoding", ""))
        body, content_type = await self._renderer.render(request.headers.get("Accept", ""), names, compress)
        response = web.Response(body=body, headers={"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"})
        if compress:
            response.headers["Content-Encoding"] = "gzip"
        return response
