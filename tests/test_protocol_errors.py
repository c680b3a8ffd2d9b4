"""Protocol errors: what aiohttp's parser refuses never reaches the request pipeline; ``exporter/http/server.py``
answers it (problem+json, fixed text), counts it and logs one line without the input."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import string
from collections.abc import Callable, Iterator
from contextlib import suppress
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.http import server as http_server
from exporter.http.server import ProblemAppRunner, ProblemRequestHandler, ProtocolErrors
from tests.support.helpers import FakeClock, make_config_dir
from tests.support.metrics_helpers import value
from tests.support.service import Service, ServiceFactory
from tests.support.service_process import ServiceProcess, free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The real `tenant-exporter serve`, on its defaults and a SQLite file."""
    workdir: Path = tmp_path_factory.mktemp("protocol")
    make_config_dir(workdir / "config")
    service = ServiceProcess(workdir, {"DATABASE_URL": f"sqlite:///{workdir}/p.db"})
    service.start()
    yield service
    assert 0 == service.stop()


PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}
PROTOCOL_ERRORS = "tenant_exporter_http_protocol_errors_total"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Protocol errors never reach the store: SQLite only, not once per database."""
    return f"sqlite:///{tmp_path}/protocol.db"


def recognisable_token() -> str:
    return "te_" + "".join(random.choices(string.ascii_letters + string.digits, k=40))


def fragments_of(token: str, text: str) -> list[str]:
    """Every 8-character piece of ``token`` that appears in ``text``."""
    return sorted({token[i:i + 8] for i in range(len(token) - 7)} & {text[i:i + 8] for i in range(len(text) - 7)})


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection (no client library sends these); the answer's status,
    headers and body, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): v.strip() for name, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split(" ", 2)[1]), headers, body


def request(*header_lines: str, line: str = "GET /api/tenant/config HTTP/1.1") -> bytes:
    return ("\r\n".join([line, "Host: 127.0.0.1", *header_lines]) + "\r\n\r\n").encode("latin-1")


class Malformed(NamedTuple):
    request: Callable[[str], bytes]  # given the token it carries
    status: int
    reason: str  # the counter's label
    level: int  # of the log line
    words: str  # in the log line


MALFORMED = {
    "a NUL byte after a bearer token in Authorization is a bad header (400)": Malformed(
        lambda token: request(f"Authorization: Bearer {token}\x00"), 400, "bad_header", logging.WARNING,
        "bad header"),
    "a 9 KB Authorization header holding a token is too large (431)": Malformed(
        lambda token: request(f"Authorization: Bearer {token}{'A' * 9216}"), 431, "header_too_large",
        logging.WARNING, "header too large"),
    "200 headers are more than the 128 allowed (431)": Malformed(
        lambda token: request(f"Authorization: Bearer {token}", *(f"X-Pad-{i}: {i}" for i in range(200))),
        431, "too_many_headers", logging.WARNING, "too many headers"),
    "a request line with a space inside the target is a bad request line (400)": Malformed(
        lambda token: request(line=f"GET /api/{token} x HTTP/1.1"), 400, "bad_request_line", logging.WARNING,
        "bad request line"),
    "a request line of 9 KB is too long (414)": Malformed(
        lambda token: request(line=f"GET /{token}{'a' * 9216} HTTP/1.1"), 414, "request_line_too_long",
        logging.WARNING, "request line too long"),
    "a control byte in a header name is a bad header (400)": Malformed(
        lambda token: request(f"X-{token}\x01: 1"), 400, "bad_header", logging.WARNING, "bad header"),
    "a first line that is not HTTP (a TLS hello) is refused, logged at debug level (400)": Malformed(
        lambda token: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + token.encode() + b"\r\n\r\n", 400,
        "not_http", logging.DEBUG, "not HTTP"),
}


@pytest.mark.parametrize("case", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_request_gets_problem_json_and_one_log_line_without_the_input(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture, case: Malformed,
) -> None:
    """What aiohttp cannot parse is answered as problem+json with its own status, logged in one line
    and counted, with no fragment of the token it carried anywhere, and the service serves on."""
    service = await make_service()
    caplog.set_level(logging.DEBUG)
    token = recognisable_token()
    status, headers, raw_body = await exchange(service.client.port, case.request(token))
    body = json.loads(raw_body)
    assert (case.status, "application/problem+json") == (status, headers["content-type"].split(";")[0])
    assert (PROBLEM_KEYS, f"urn:tenant-exporter:problem:{case.reason.replace('_', '-')}",
            HTTPStatus(case.status).phrase, case.status) == (set(body), body["type"], body["title"], body["status"])
    assert [] == fragments_of(token, raw_body.decode() + str(headers))
    assert [] == fragments_of(token, caplog.text + "".join(str(r.msg) + str(r.args) for r in caplog.records))
    assert (False, []) == ("Traceback" in caplog.text, [r.getMessage() for r in caplog.records if r.exc_info])
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records  # (the access log is the test server's)
             if r.name.startswith(("aiohttp", "exporter.http")) and r.name != "aiohttp.access"]
    assert [("exporter.http.server", case.level,
             f"protocol error from 127.0.0.1: {case.words} ({case.status})")] == lines
    async with service.client.get("/metrics") as r:
        assert 1.0 == value(await r.text(), PROTOCOL_ERRORS, reason=case.reason)
    async with service.client.get("/-/healthy") as r:
        assert 200 == r.status


async def test_a_burst_of_bad_requests_logs_a_handful_of_lines_and_counts_them_all(
    service: Service, caplog: pytest.LogCaptureFixture,
) -> None:
    """200 bad requests log one line (the next, after the interval, says how many were left out)
    while the counter reads 200; the service still answers."""
    caplog.set_level(logging.DEBUG)
    token = recognisable_token()
    bad = request(f"Authorization: Bearer {token}\x00")
    for _ in range(200):
        assert 400 == (await exchange(service.client.port, bad))[0]
    async with service.client.get("/metrics") as r:
        assert 200.0 == value(await r.text(), PROTOCOL_ERRORS, reason="bad_header")
    service.clock.advance(http_server.LOG_INTERVAL)
    assert 400 == (await exchange(service.client.port, bad))[0]
    lines = [r.getMessage() for r in caplog.records if r.name == "exporter.http.server"]
    assert ["protocol error from 127.0.0.1: bad header (400)",
            "protocol error from 127.0.0.1: bad header (400); 199 more suppressed"] == lines
    assert [] == fragments_of(token, caplog.text)
    async with service.client.get("/-/healthy") as r:
        assert 200 == r.status


async def test_the_metrics_port_answers_a_malformed_request_the_same_way(make_service: ServiceFactory) -> None:
    """The METRICS_PORT listener answers what it cannot parse with problem+json too, counted with the rest."""
    port = free_port()
    service = await make_service(metrics_port=port)
    token = recognisable_token()
    status, headers, raw_body = await exchange(port, request(f"Authorization: Bearer {token}{'A' * 9216}"))
    assert (431, "application/problem+json", []) == (
        status, headers["content-type"].split(";")[0], fragments_of(token, raw_body.decode()))
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert 1.0 == value(await r.text(), PROTOCOL_ERRORS, reason="header_too_large")
    assert 200 == (await service.client.get("/-/healthy")).status


async def test_serve_answers_a_token_with_a_nul_byte_and_logs_one_line_without_it(served: ServiceProcess) -> None:
    """The real `tenant-exporter serve` answers problem+json and writes one line to its log, no
    token fragment and no traceback, for a bearer token followed by a NUL byte."""
    service = served
    token = recognisable_token()
    before = service.log.read_text()
    got, headers, raw_body = await exchange(service.port, request(f"Authorization: Bearer {token}\x00"))
    assert (400, "application/problem+json", "urn:tenant-exporter:problem:bad-header") == (
        got, headers["content-type"].split(";")[0], json.loads(raw_body)["type"])
    written = service.log.read_text()[len(before):]
    assert ([], False) == (fragments_of(token, written + raw_body.decode()), "Traceback" in written)
    assert ["WARNING exporter.http.server: protocol error from 127.0.0.1: bad header (400)"] == [
        line.split(" ", 2)[2] for line in written.splitlines() if "http.server" in line or "aiohttp" in line]
    async with aiohttp.ClientSession() as http, http.get(f"{service.url}/-/healthy") as r:
        assert 200 == r.status


async def test_the_runner_relies_on_aiohttp_internals_that_are_still_there() -> None:
    """ProblemAppRunner's server makes ProblemRequestHandlers with the settings the runner was given,
    through the private aiohttp API its docstring names."""
    assert ["self", "request", "status", "exc", "message"] == list(
        inspect.signature(web.RequestHandler.handle_error).parameters)
    assert inspect.iscoroutinefunction(web.AppRunner._make_server)
    runner = ProblemAppRunner(web.Application(), ProtocolErrors(CollectorRegistry(), FakeClock()), access_log=None,
                              keepalive_timeout=75.0, handler_cancellation=False)
    await runner.setup()
    try:
        server = runner.server
        assert server is not None
        handler = server()
        assert (ProblemRequestHandler, None, 75.0, False, 0) == (
            type(handler), handler.access_log, handler._keepalive_timeout, server.handler_cancellation,
            handler._request_count)
        assert (http_server.MAX_REQUEST_LINE, http_server.MAX_HEADER_LINE, http_server.MAX_HEADERS) == (
            handler.max_line_size, handler.max_field_size, handler.max_headers)
        assert http_server.MAX_REQUEST_LINE != http_server.MAX_HEADER_LINE  # how a 414 is told from a 431
    finally:
        await runner.cleanup()
