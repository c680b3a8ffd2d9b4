"""Hostile input a fuzzer will not think of: each gets a clear 4xx, the service stays up, nothing is lost."""

from __future__ import annotations

import asyncio
import http.client
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.helpers import make_config_dir
from tests.support.service_process import ServiceProcess

TENANTS = [{"id": "acme", "name": "Acme", "plan": "enterprise", "region": "eu-west",
            "rate_limit": {"requests_per_second": 100000, "burst": 100000}}]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, dict[str, str]]]:
    workdir: Path = tmp_path_factory.mktemp("hostile")
    make_config_dir(workdir / "config", tenants=TENANTS)
    service = ServiceProcess(workdir, {"DATABASE_URL": f"sqlite:///{workdir}/h.db"})
    tokens = {role: service.cli("keys", "create", "--tenant", "acme", "--role", role).stdout.strip()
              for role in ("service", "operator")}
    service.start()
    yield service, tokens
    assert 0 == service.stop()
    assert "unhandled error" not in service.log.read_text()


async def call(url: str, method: str, path: str, *, data: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    if data is not None and len(data) > 1024 * 1024:
        port = int(url.rsplit(":", 1)[1])
        return await asyncio.to_thread(send_until_answered, port, method, path, data, headers or {})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, \
            http.request(method, url + path, data=data, headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text(errors="replace")


def send_until_answered(port: int, method: str, path: str, body: bytes,
                        headers: dict[str, str]) -> tuple[int, str, str]:
    """Send a large body, stopping as soon as the answer arrives (as curl does on an early 413).

    Plain sockets: an aiohttp client here leaves a transport with megabytes still buffered,
    closing, after the test's event loop has ended (a ResourceWarning in a later test).
    """
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        rest = memoryview(body)
        deadline = time.monotonic() + 10
        while rest and time.monotonic() < deadline:
            readable, writable, _ = select.select([s], [s], [], 1)
            if readable:
                break  # the answer came before the whole body was sent
            if writable:
                rest = rest[s.send(rest[:65536]):]
        reply = http.client.HTTPResponse(s)
        reply.begin()
        return reply.status, reply.getheader("Content-Type", ""), reply.read().decode(errors="replace")


BODIES = {
    "10 MB body": (b'{"cases_created": 1, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}', 413),
    "deeply nested JSON": (b'{"cases_created":' + b"[" * 100_000 + b"]" * 100_000 + b"}", 422),
    "invalid UTF-8 in a key": (b'{"cases_created": 1, "\xff\xfe": 2}', 400),
    "NaN": (b'{"storage_used_gb": NaN}', 400),
    "Infinity": (b'{"storage_used_gb": Infinity}', 400),
    "1e999 overflows to infinity": (b'{"storage_used_gb": 1e999}', 422),
    "a number with 100,000 digits": (b'{"cases_created": ' + b"9" * 100_000 + b"}", 422),
    "not an object": (b'"just a string"', 422),
    "empty body": (b"", 400),
}


@pytest.mark.parametrize(("body", "status"), list(BODIES.values()), ids=list(BODIES))
async def test_hostile_bodies_get_a_clear_4xx(live, body: bytes, status: int) -> None:
    """Each hostile body to PUT /api/tenant/usage answers the expected 4xx as problem+json."""
    service, tokens = live
    got, content_type, text = await call(service.url, "PUT", "/api/tenant/usage", data=body,
                                         headers={**JSON, "Authorization": f"Bearer {tokens['service']}"})
    assert (status, "application/problem+json") == (got, content_type.split(";")[0]), text[:300]


async def test_invalid_utf8_in_a_free_form_string_is_a_400(live) -> None:
    """Invalid UTF-8 inside an evaluation context string is refused as malformed, not a crash."""
    service, tokens = live
    got, content_type, _ = await call(service.url, "POST", "/ofrep/v1/evaluate/flags",
                                      data=b'{"context": {"k": "\xff\xfe"}}',
                                      headers={**JSON, "Authorization": f"Bearer {tokens['operator']}"})
    assert (400, "application/problem+json") == (got, content_type.split(";")[0])


async def test_deeply_nested_free_form_json_is_a_400(live) -> None:
    """A free-form field (OFREP's evaluation context) nested 200,000 deep is refused, not a crash."""
    service, tokens = live
    body = b'{"context": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    got, content_type, _ = await call(service.url, "POST", "/ofrep/v1/evaluate/flags", data=body,
                                      headers={**JSON, "Authorization": f"Bearer {tokens['operator']}"})
    assert (400, "application/problem+json") == (got, content_type.split(";")[0])


@pytest.mark.parametrize("path", ["..", "../../etc/passwd", "a/../../b", "%2e%2e/x", "http:%2F%2Fevil", "x//y",
                                  ".hidden", "a%00b"])
async def test_region_paths_that_escape_are_400(live, path: str) -> None:
    """Region paths with '..', schemes, empty or dot segments are refused with 400."""
    service, tokens = live
    raw = f"GET /api/tenant/region/{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['operator']}\r\n" \
          "Connection: close\r\n\r\n"
    status = await asyncio.to_thread(raw_request, service.port, raw.encode())
    assert status in (400, 404), status  # 404: the client-side path did not reach the region route at all


def raw_request(port: int, data: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = s.recv(200)
    return int(reply.split(b" ", 2)[1])


async def test_ten_thousand_headers_are_refused_and_the_service_stays_up(live) -> None:
    """A request with 10,000 headers gets a 4xx (the parser's header limit), then normal requests work."""
    service, _ = live
    headers = "".join(f"X-H{i}: v\r\n" for i in range(10_000))
    raw = f"GET /-/healthy HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
    status = await asyncio.to_thread(raw_request, service.port, raw)
    assert 400 <= status < 500
    assert 200 == (await call(service.url, "GET", "/-/healthy"))[0]


async def test_slow_clients_do_not_starve_others(live) -> None:
    """200 connections trickling a request byte by byte do not stop normal requests from being served."""
    service, tokens = live
    slow = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        s.sendall(b"GET /api/tenant/config HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    try:
        for round_ in range(5):
            for s in slow:
                s.sendall(b"X-Slow: %d\r\n" % round_)
            status, _, _ = await call(service.url, "GET", "/api/tenant/config",
                                      headers={"Authorization": f"Bearer {tokens['operator']}"})
            assert 200 == status
            await asyncio.sleep(0.2)
    finally:
        for s in slow:
            s.close()
    assert 200 == (await call(service.url, "GET", "/-/healthy"))[0]


async def test_nothing_is_lost_after_the_abuse(live) -> None:
    """After all of the above, a valid report is stored and read back."""
    service, tokens = live
    auth = {"Authorization": f"Bearer {tokens['service']}"}
    status, _, _ = await call(service.url, "PUT", "/api/tenant/usage", data=b'{"cases_created": 41}',
                              headers={**JSON, **auth})
    assert 200 == status
    status, _, text = await call(service.url, "GET", "/api/tenant/usage", headers=auth)
    assert (200, True) == (status, '"cases_created":41' in text)
