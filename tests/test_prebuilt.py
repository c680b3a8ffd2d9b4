"""Cached answers (``http/prebuilt.py``) on the wire: the same headers and connection handling that
aiohttp gives its own answers, HEAD without a body, pipelining, CORS, and header values checked."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest
from aiohttp import web

from exporter.http.prebuilt import Prebuilt, Ready
from tests.support.service import Service

Answer = tuple[int, dict[str, str], bytes]


def _request(method: str, path: str, token: str, version: str = "1.1", *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", f"Authorization: Bearer {token}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _exchange(port: int, data: bytes, answers: int, *, head: tuple[int, ...] = ()) -> tuple[list[Answer], bool]:
    """Send ``data`` (one or more requests), read ``answers`` answers (``head``: the indexes of HEAD
    requests, which carry no body); whether the server then closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        read: list[Answer] = []
        for i in range(answers):
            status_line = await asyncio.wait_for(reader.readline(), 5)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip()] = value.strip()
            length = 0 if i in head else int(headers.get("Content-Length", "0"))
            body = await reader.readexactly(length)
            read.append((int(status_line.split()[1]), headers, body))
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.5) == b""
        except TimeoutError:
            closed = False
        return read, closed
    finally:
        writer.close()


def _port(service: Service) -> int:
    port = service.client.server.port
    assert port is not None
    return port


async def test_a_cached_answer_has_the_headers_aiohttp_gives_its_own(service: Service) -> None:
    """GET /api/tenant/config (prebuilt) carries the same header names as /api/tenant/usage (aiohttp's
    web.Response), a Content-Length that is its body's, the same Server and a current Date."""
    token = await service.token("acme")
    data = _request("GET", "/api/tenant/config", token) + _request("GET", "/api/tenant/usage", token)
    [(config_status, config, body), (usage_status, usage, _)], closed = await _exchange(_port(service), data, 2)
    assert (200, 200, False) == (config_status, usage_status, closed)
    assert set(usage) == set(config)
    assert (str(len(body)), "application/json") == (config["Content-Length"], config["Content-Type"])
    assert usage["Server"] == config["Server"]
    assert abs(email.utils.parsedate_to_datetime(config["Date"]).timestamp() - time.time()) < 5
    assert b'"id":"acme"' in body


@pytest.mark.parametrize(("version", "connection"), [
    ("1.1", None), ("1.1", "close"), ("1.0", None), ("1.0", "keep-alive"),
], ids=["HTTP/1.1 stays open", "HTTP/1.1 with close is closed", "HTTP/1.0 is closed",
        "HTTP/1.0 with keep-alive stays open"])
async def test_a_cached_answer_keeps_or_closes_the_connection_as_aiohttp_does(
        service: Service, version: str, connection: str | None) -> None:
    """Each answer's Connection header, and whether the server closes, match aiohttp's own answer."""
    token = await service.token("acme")
    extra = () if connection is None else (f"Connection: {connection}",)
    seen = []
    for path in ("/api/tenant/config", "/api/tenant/usage"):
        [(status, headers, _)], closed = await _exchange(_port(service), _request("GET", path, token, version, *extra),
                                                         1)
        seen.append((status, headers.get("Connection"), closed))
    assert seen[1] == seen[0]
    assert (connection in (None, "keep-alive") and not (version == "1.0" and connection is None)) == (not seen[0][2])


async def test_head_of_a_cached_answer_has_its_length_and_no_body(service: Service) -> None:
    """HEAD answers the GET's headers without the body: a GET pipelined behind it is read intact."""
    token = await service.token("acme")
    data = _request("HEAD", "/api/tenant/config", token) + _request("GET", "/api/tenant/config", token)
    [(head_status, head, nothing), (get_status, get, body)], _ = await _exchange(_port(service), data, 2, head=(0,))
    assert (200, 200, b"") == (head_status, get_status, nothing)
    assert head["Content-Length"] == get["Content-Length"] == str(len(body))
    assert body.startswith(b"{") and body.endswith(b"}")


async def test_pipelined_cached_answers_come_back_in_order_each_with_its_own_request_id(service: Service) -> None:
    """Ten requests in one write: ten answers, in order, with the request ids that were sent."""
    token = await service.token("acme")
    data = b"".join(_request("GET", "/api/tenant/config", token, "1.1", f"X-Request-ID: pipelined-{i}")
                    for i in range(10))
    answers, _ = await _exchange(_port(service), data, 10)
    assert [f"pipelined-{i}" for i in range(10)] == [headers["X-Request-ID"] for _, headers, _ in answers]
    assert 1 == len({body for _, _, body in answers})


async def test_a_cached_answer_to_a_listed_origin_carries_the_cors_headers(make_service: Any) -> None:
    """CORS decorates prebuilt answers too: the origin, the exposed headers and Vary."""
    service = await make_service(cors_origins=("http://localhost:5173",))
    resp = await service.client.get("/api/tenant/config",
                                    headers=await service.headers("acme", Origin="http://localhost:5173"))
    assert 200 == resp.status
    assert "http://localhost:5173" == resp.headers["Access-Control-Allow-Origin"]
    assert "RateLimit" in resp.headers["Access-Control-Expose-Headers"]
    assert "Origin" == resp.headers["Vary"]
    assert resp.headers["X-Request-ID"]


def test_a_prebuilt_answer_has_every_attribute_a_stream_response_starts_with() -> None:
    """Prebuilt sets StreamResponse's attributes itself (for speed): should aiohttp's __init__ set a new
    one, this fails rather than aiohttp meeting a response without it."""
    theirs, ours = vars(web.StreamResponse()), vars(Prebuilt(Ready(b"{}", content_type="application/json")))
    assert set(theirs) == set(ours) - {"_ready", "_lines"}
    assert {name: value for name, value in theirs.items() if name != "_headers"} == {
        name: value for name, value in ours.items() if name in theirs and name != "_headers"}
    assert (ours["_headers"], type(ours["_headers"])) == (theirs["_headers"], type(theirs["_headers"]))


@pytest.mark.parametrize(("name", "value"), [
    ("X-Evil", "a\r\nSet-Cookie: x=1"), ("X-Evil", "a\nb"), ("X-Evil", "a\rb"), ("X-Evil\r\nSet-Cookie", "x"),
    ("X-Evil: y", "x"),
], ids=["CRLF in a value", "LF in a value", "CR in a value", "CRLF in a name", "colon in a name"])
def test_a_header_that_would_split_the_answer_is_refused(name: str, value: str) -> None:
    """add_header refuses CR, LF (and a colon in a name): no header can be injected."""
    answer = Prebuilt(Ready(b"{}", content_type="application/json"))
    with pytest.raises(ValueError, match="CR, LF"):
        answer.add_header(name, value)


async def test_on_response_prepare_sees_and_changes_a_prebuilt_answer(aiohttp_client: Any) -> None:
    """A signal handler's header reaches the client, beside the lines added by add_header."""
    ready = Ready(b'{"ok":true}', content_type="application/json")

    async def handler(request: web.Request) -> web.StreamResponse:
        answer = Prebuilt(ready)
        answer.add_header("X-Added", "1")
        return answer

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Signal"] = type(response).__name__

    app = web.Application()
    app.router.add_get("/", handler)
    app.on_response_prepare.append(on_prepare)
    client = await aiohttp_client(app)
    resp = await client.get("/")
    assert (200, "Prebuilt", "1", {"ok": True}) == (resp.status, resp.headers["X-Signal"], resp.headers["X-Added"],
                                                    await resp.json())
