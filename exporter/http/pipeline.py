"""The request pipeline: every route's handler, wrapped when the app is wired, in these steps.

1. telemetry, first and last, so it records the status the client gets (``telemetry/http_metrics.py``);
2. CORS, when origins are configured: preflights are answered here (``cors.py``);
3. the error boundary: a request id, and whatever a handler raises as problem+json
   (``problems.py``);
4. access, for handlers marked with ``requires``: token, quotas, role (``access.py``);
   every answer from here on, errors included, carries the RateLimit headers.

A wrapper per route rather than an aiohttp middleware: the route's label, whether it is counted
and the roles it requires are settled once, at wiring time, and aiohttp's middleware chain (per
request a ``partial``, a cache lookup and a wrapper coroutine of its own) is not in the way; the
request path is the part of this service that users measure (docs/performance.md). Paths that
no route matches, or methods that no route of the path takes, reach a catch-all route that is
registered last and answers 404 or 405 through the same steps. The steps stay in their own
modules; this is only their order.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Collection, Iterable
from typing import Protocol

from aiohttp import web

from exporter.core.errors import ProblemError
from exporter.http.access import Access
from exporter.http.caller import TENANT, Handler, required_roles
from exporter.http.cors import Cors
from exporter.http.prebuilt import Prebuilt
from exporter.http.problems import REQUEST_ID, problem_for, request_id_for
from exporter.telemetry.http_metrics import CLIENT_CLOSED, NO_TENANT, UNMATCHED, HttpMetrics
from exporter.tenancy.quota import header_fields


class Api(Protocol):
    """A module's handlers, bound to what they need: ``routes()`` lists them."""

    def routes(self) -> list[web.RouteDef]: ...


class Pipeline:
    """Registers routes on ``app`` with their handlers wrapped. ``access`` is the access step;
    ``metrics`` None turns telemetry off; ``exclude`` lists route
    templates or paths that are served but not counted (the scrape itself, by default)."""

    def __init__(self, app: web.Application, access: Access, metrics: HttpMetrics | None, *,
                 exclude: Collection[str] = ("/metrics",), cors: Cors | None = None) -> None:
        self._app = app
        self._access = access
        self._metrics = metrics
        self._exclude = frozenset(exclude)
        self._cors = cors

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        for route in routes:
            if not isinstance(route, web.RouteDef):
                raise TypeError(f"only plain routes can be wrapped, not {route!r}")
            web.RouteDef(route.method, route.path, self.wrap(route_label(route.path), route.handler),
                         dict(route.kwargs)).register(self._app.router)

    def add_unmatched(self) -> None:
        """The catch-all, after every other route: 404, or 405 with ``Allow``, as problem+json."""
        catch_all = _AnyTarget("/{path}")
        self._app.router.register_resource(catch_all)
        catch_all.add_route("*", self.wrap(UNMATCHED, _unmatched))

    def wrap(self, route: str, handler: Handler) -> Handler:
        """``handler`` behind the steps; ``route`` is its label in the metrics."""
        access, metrics, cors, exclude = self._access, self._metrics, self._cors, self._exclude
        counted = metrics is not None and route not in exclude
        by_path = route == UNMATCHED  # unmatched paths can still be excluded by their path
        roles = required_roles(handler)
        perf_counter = time.perf_counter

        async def step(request: web.Request) -> web.StreamResponse:
            start = perf_counter()
            timed = counted and not (by_path and request.path in exclude)
            if timed:
                metrics.active += 1  # type: ignore[union-attr]
            status = 500
            tenant_id = NO_TENANT
            response: web.StreamResponse | None = None
            request_id = request_id_for(request)
            request[REQUEST_ID] = request_id
            origin = cors.origin(request) if cors is not None else None
            lines = ""  # header lines for a Prebuilt answer: the RateLimit fields, once admitted
            try:
                try:
                    if origin is not None:
                        response = Cors.preflight(request, origin)
                    if response is None:
                        if roles is None or request.method == "OPTIONS":
                            response = await handler(request)
                        else:
                            tenant, lines = access.admit_known(request, roles) or await access.admit(request, roles)
                            tenant_id = tenant.id
                            try:
                                response = await handler(request)
                            except ProblemError as e:
                                e.headers = {**header_fields(lines), **e.headers}
                                raise
                            except web.HTTPException as e:
                                e.headers.update(header_fields(lines))
                                raise
                            if type(response) is not Prebuilt and not response.prepared:
                                response.headers.update(header_fields(lines))
                except Exception as e:
                    known = request.get(TENANT)  # set once the token is known, also when the answer is 403 or 429
                    tenant_id = known.id if known is not None else NO_TENANT
                    response = problem_for(request, e)
                    if response is None:  # a redirect, which aiohttp answers
                        status = e.status if isinstance(e, web.HTTPException) else status
                        raise
                if type(response) is Prebuilt:
                    response.add_lines(f"{lines}X-Request-ID: {request_id}\r\n")  # numbers and a sane id: no CR, LF
                    if origin is not None:
                        Cors.decorate(response, origin)
                elif not response.prepared:
                    response.headers["X-Request-ID"] = request_id
                    if origin is not None:
                        Cors.decorate(response, origin)
                transport = request.transport  # client_gone(request), inlined: this runs for every request
                status = CLIENT_CLOSED if transport is None or transport.is_closing() else response.status
                return response
            except asyncio.CancelledError:
                status = CLIENT_CLOSED
                raise
            finally:
                if timed:
                    metrics.finish(  # type: ignore[union-attr]
                        request.method, route, status, tenant_id, perf_counter() - start,
                        request.content_length or 0, response_bytes(response))

        return functools.update_wrapper(step, handler)


def response_bytes(response: web.StreamResponse | None) -> int:
    if response is None:
        return 0
    if response.prepared:
        return response.body_length
    return response.content_length or 0


def client_gone(request: web.Request) -> bool:
    """The client closed the connection (or it is closing): nobody will read an answer."""
    transport = request.transport
    return transport is None or transport.is_closing()


def route_label(path: str) -> str:
    """The route template as aiohttp writes it (``/x/{code}`` for ``/x/{code:\\d+}``): never a raw path."""
    return web.DynamicResource(path).canonical if "{" in path else path


class _AnyTarget(web.DynamicResource):
    """``/{path}`` that matches every request target: paths with newlines (``%0A``), and the asterisk
    form (``OPTIONS *``) that has no leading slash, which aiohttp would answer itself, in plain text.
    (``Resource._match`` is aiohttp's hook for what a resource matches.)"""

    def _match(self, path: str) -> dict[str, str]:
        return {"path": path}


async def _unmatched(request: web.Request) -> web.StreamResponse:
    """No route has this path (404), or none of the routes that have it takes the method (405)."""
    allowed: set[str] = set()
    catch_all = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not catch_all:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()
