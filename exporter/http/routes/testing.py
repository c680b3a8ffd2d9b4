"""Fault injection for tests and demos: a slow route and a failing route.

Registered only when ``ENABLE_TEST_ROUTES=true``; never on by default. End-to-end tests use
them to drive latency and error-rate signals through the real telemetry and alert rules.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from exporter.core.errors import BadRequest
from exporter.http.json import json_response
from exporter.http.openapi import operation
from exporter.http.problems import problem_response


class TestingApi:
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/-/test/sleep", self.sleep), web.get("/-/test/status/{code:[0-9]{3}}", self.status)]

    @operation(query={"seconds": "how long to wait (0-30)"}, errors=(400,), tags=("testing",))
    async def sleep(self, request: web.Request) -> web.Response:
        """Answer 200 after ``seconds`` (0..30)."""
        try:
            seconds = float(request.query.get("seconds", "0.1"))
        except ValueError as e:
            raise BadRequest("seconds must be a number") from e
        if not 0 <= seconds <= 30:
            raise BadRequest("seconds must be between 0 and 30")
        await asyncio.sleep(seconds)
        return json_response({"slept": seconds})

    @operation(status=500, errors=(400,), tags=("testing",))
    async def status(self, request: web.Request) -> web.Response:
        """Answer with the given status (400-599) as problem+json."""
        code = int(request.match_info["code"])
        if not 400 <= code <= 599:
            raise BadRequest("code must be 400-599")
        return problem_response(request, code, "injected-failure", "Injected Failure", f"injected {code}")
