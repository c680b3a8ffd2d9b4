"""The HTTP listener: aiohttp's server, with errors below the request pipeline answered safely.

A request aiohttp cannot parse (bad bytes in a header, a header or request line too long, too
many headers, a malformed request line, non-HTTP traffic) never reaches the pipeline: aiohttp's
``RequestHandler.handle_error`` answers it, by default with a ``text/plain`` body and an ERROR
traceback in the log that both quote the raw input, bearer tokens included. This module owns
what replaces that: ``ProblemRequestHandler`` answers ``application/problem+json`` with a fixed
detail per kind of error and never a byte of the input; ``ProtocolErrors`` counts every error in
``tenant_exporter_http_protocol_errors_total{reason}`` and logs one line (no headers, no path)
per reason at most every ``LOG_INTERVAL`` seconds. ``ProblemAppRunner`` builds servers that use
the handler (``serve``, the ``METRICS_PORT`` listener and the in-process test server), and
``serve`` runs the app as ``web.run_app`` did.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)
from prometheus_client import CollectorRegistry, Counter

from exporter.core.clock import Clock
from exporter.core.errors import PROBLEM_TYPE_BASE
from exporter.http.json import encode
from exporter.http.problems import PROBLEM_JSON, new_request_id

log = logging.getLogger(__name__)

LOG_INTERVAL: Final = 10.0  # seconds between two log lines of one reason; the counter has every error
# aiohttp's limits (8190 bytes for the request target and for a header line alike), except that a
# header line may be 2 bytes longer: LineTooLong carries only the limit it hit, and the two limits
# must differ for it to tell a request line too long (414) from a header too large (431).
MAX_REQUEST_LINE: Final = 8190
MAX_HEADER_LINE: Final = 8192
MAX_HEADERS: Final = 128
SHUTDOWN_TIMEOUT: Final = 60.0  # web.run_app's: how long in-flight requests may take to finish
KEEPALIVE_TIMEOUT: Final = 75.0  # web.run_app's


@dataclass(frozen=True, slots=True)
class Reason:
    """One kind of error: its ``reason`` label, its answer (problem type, status, fixed detail) and
    its log line (text and level)."""

    label: str
    slug: str
    status: int
    text: str
    detail: str
    level: int = logging.WARNING


# The first request of a connection without an HTTP method is most often TLS or another protocol
# on this port: common on the internet, so at debug level (as aiohttp logs it).
NOT_HTTP: Final = Reason("not_http", "not-http", 400, "not HTTP", "the request does not start with an HTTP method",
                         logging.DEBUG)
BAD_REQUEST_LINE: Final = Reason("bad_request_line", "bad-request-line", 400, "bad request line",
                                 "the request line is not an HTTP/1.1 request line")
REQUEST_LINE_TOO_LONG: Final = Reason("request_line_too_long", "request-line-too-long", 414, "request line too long",
                                      f"the request target is longer than {MAX_REQUEST_LINE} bytes")
BAD_HEADER: Final = Reason("bad_header", "bad-header", 400, "bad header",
                           "a header name or value holds bytes that HTTP does not allow there")
HEADER_TOO_LARGE: Final = Reason("header_too_large", "header-too-large", 431, "header too large",
                                 f"a header line is longer than {MAX_HEADER_LINE} bytes")
TOO_MANY_HEADERS: Final = Reason("too_many_headers", "too-many-headers", 431, "too many headers",
                                 f"the request has more than {MAX_HEADERS} headers")
BAD_REQUEST: Final = Reason("bad_request", "bad-request", 400, "malformed request",
                            "the request is not valid HTTP/1.1")
# aiohttp's 500 (or 504) for what a handler raised past the pipeline; answered with that status.
SERVER_ERROR: Final = Reason("server_error", "internal", 500, "server error",
                             "an unexpected error occurred; it has been logged", logging.ERROR)
REASONS: Final = (NOT_HTTP, BAD_REQUEST_LINE, REQUEST_LINE_TOO_LONG, BAD_HEADER, HEADER_TOO_LARGE, TOO_MANY_HEADERS,
                  BAD_REQUEST, SERVER_ERROR)


def classify(exc: BaseException | None, status: int, *, first_request: bool, max_line_size: int,
             max_field_size: int) -> Reason:
    """The kind of an error ``handle_error`` was given: by exception class, and for aiohttp's
    catch-all BadHttpMessage by its fixed description (llhttp's or aiohttp's, before any input)."""
    if status >= 500:
        return SERVER_ERROR
    if not isinstance(exc, BadHttpMessage):
        return BAD_REQUEST
    if isinstance(exc, BadHttpMethod):
        return NOT_HTTP if first_request else BAD_REQUEST_LINE
    if isinstance(exc, BadStatusLine | InvalidURLError):
        return BAD_REQUEST_LINE
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        return REQUEST_LINE_TOO_LONG if limit == max_line_size != max_field_size else HEADER_TOO_LARGE
    if isinstance(exc, InvalidHeader):
        return BAD_HEADER
    description = exc.message.split(":", 1)[0]
    if description == "Too many headers received":
        return TOO_MANY_HEADERS
    return BAD_HEADER if "header" in description.lower() else BAD_REQUEST


class ProtocolErrors:
    """Counts every error below the pipeline by reason and logs one line per reason per interval;
    the next line of a reason says how many were left out since the last one."""

    def __init__(self, registry: CollectorRegistry, clock: Clock, *, interval: float = LOG_INTERVAL) -> None:
        self._clock = clock
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._count = Counter("tenant_exporter_http_protocol_errors",
                              "Requests answered below the request pipeline: unparseable HTTP (by reason) or, as "
                              "server_error, a failure outside it.", ["reason"], registry=registry)
        for reason in REASONS:
            self._count.labels(reason.label)

    def record(self, reason: Reason, remote: str, status: int, exc: BaseException | None,
               request_id: str) -> None:
        self._count.labels(reason.label).inc()
        now = self._clock.monotonic()
        last = self._last.get(reason.label)
        if last is not None and now - last < self._interval:
            self._suppressed[reason.label] = self._suppressed.get(reason.label, 0) + 1
            return
        self._last[reason.label] = now
        suppressed = self._suppressed.pop(reason.label, 0)
        tail = f"; {suppressed} more suppressed" if suppressed else ""
        if reason is SERVER_ERROR:  # a bug, not input: its traceback is what finds it
            log.error("unhandled error outside the request pipeline, from %s: %d (request %s)%s", remote, status,
                      request_id, tail, exc_info=exc)
        else:  # one line: never the exception, whose message quotes the input
            log.log(reason.level, "protocol error from %s: %s (%d)%s", remote, reason.text, reason.status, tail)


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse with problem+json."""

    __slots__ = ("_protocol_errors",)

    def __init__(self, manager: web.Server, *, protocol_errors: ProtocolErrors, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._protocol_errors = protocol_errors

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """Replaces aiohttp's: ``message`` (the input, quoted) is never used."""
        reason = classify(exc, status, first_request=self._request_count == 1, max_line_size=self.max_line_size,
                          max_field_size=self.max_field_size)
        request_id = new_request_id()
        self._protocol_errors.record(reason, request.remote or "unknown", status, exc, request_id)
        if request.writer.output_size > 0:  # as aiohttp: too late for an answer, the connection is dropped
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        status = status if reason is SERVER_ERROR else reason.status
        body = {
            "type": PROBLEM_TYPE_BASE + reason.slug,
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": reason.detail,
            "instance": f"urn:tenant-exporter:request:{request_id}",  # not the path: it may be the bad input
            "request_id": request_id,
        }
        response = web.Response(body=encode(body), status=status, content_type=PROBLEM_JSON)
        response.force_close()
        return response


class _ProblemServer(web.Server):
    """aiohttp's Server (the protocol factory a site listens with), making ProblemRequestHandlers."""

    def __init__(self, made: web.Server, protocol_errors: ProtocolErrors) -> None:
        super().__init__(made.request_handler, request_factory=made.request_factory,
                         handler_cancellation=made.handler_cancellation, **made._kwargs)
        self._protocol_errors = protocol_errors

    def __call__(self) -> web.RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, protocol_errors=self._protocol_errors, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """``web.AppRunner`` whose server answers protocol errors with ProblemRequestHandler.

    It depends on aiohttp internals (3.14), pinned by
    tests/test_hostile_input.py::test_the_runner_relies_on_aiohttp_internals_that_are_still_there:
    ``AppRunner._make_server`` (the hook ``BaseRunner.setup`` calls to start the app and get its
    ``Server``), ``Server._kwargs`` and ``Server._loop`` (what ``Server.__call__`` builds each
    connection's ``RequestHandler`` with: its class is fixed there, hence a Server subclass built
    from the one aiohttp made), and ``RequestHandler._request_count`` and the signature of
    ``RequestHandler.handle_error``, through which aiohttp answers every parser error.
    """

    __slots__ = ("_protocol_errors",)

    def __init__(self, app: web.Application, protocol_errors: ProtocolErrors, **kwargs: Any) -> None:
        kwargs = {"max_line_size": MAX_REQUEST_LINE, "max_field_size": MAX_HEADER_LINE, "max_headers": MAX_HEADERS,
                  **kwargs}
        super().__init__(app, **kwargs)
        self._protocol_errors = protocol_errors

    async def _make_server(self) -> web.Server:
        return _ProblemServer(await super()._make_server(), self._protocol_errors)


async def serve(app: web.Application, protocol_errors: ProtocolErrors, host: str, port: int) -> None:
    """Serve ``app`` on host:port until SIGINT or SIGTERM, then stop as ``web.run_app`` does: stop
    accepting, close idle connections, give in-flight requests SHUTDOWN_TIMEOUT s, run cleanup."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = ProblemAppRunner(app, protocol_errors, access_log=None, handler_cancellation=False,
                                  keepalive_timeout=KEEPALIVE_TIMEOUT, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
