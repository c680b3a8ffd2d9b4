"""Values that once broke the service, tried as classes over every place they can go, against a real
process: bytes that are not UTF-8 in any header, digits that are not ASCII in any integer parameter,
newlines and odd targets in paths, tenants that do not exist. No 5xx, and every error is problem+json.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import make_config_dir
from tests.support.service_process import ServiceProcess

TENANTS = [{"id": "acme", "name": "Acme", "plan": "enterprise", "region": "eu-west",
            "rate_limit": {"requests_per_second": 100000, "burst": 100000}}]
METRICS_TOKEN = "metrics-token-0123456789"
WEBHOOK_TOKEN = "webhook-token-0123456789"
PROBLEM = "application/problem+json"


class Live:
    def __init__(self, service: ServiceProcess, tokens: dict[str, str]) -> None:
        self.service, self.tokens = service, tokens

    def raw(self, head: bytes, body: bytes = b"") -> tuple[int, str, bytes]:
        """Send ``head`` (request line and headers, without the blank line) as bytes; the answer."""
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as s:
            length = b"Content-Length: %d\r\n" % len(body) if body else b""
            s.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + length + b"\r\n" + body)
            reply = http.client.HTTPResponse(s)
            reply.begin()
            return reply.status, reply.getheader("Content-Type", ""), reply.read()

    def request(self, method: str, target: str, headers: dict[str, bytes], body: bytes = b"") -> tuple[int, str, bytes]:
        head = f"{method} {target} HTTP/1.1".encode() + b"".join(
            b"\r\n" + name.encode() + b": " + value for name, value in headers.items())
        return self.raw(head, body)

    def bearer(self, role: str) -> dict[str, bytes]:
        return {"Authorization": f"Bearer {self.tokens[role]}".encode()}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("values")
    make_config_dir(workdir / "config", tenants=TENANTS)
    service = ServiceProcess(workdir, {"DATABASE_URL": f"sqlite:///{workdir}/v.db", "METRICS_TOKEN": METRICS_TOKEN,
                                       "ALERTMANAGER_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                                       "CORS_ORIGINS": "https://app.example.com"})
    tokens = {role: service.cli("keys", "create", "--tenant", "acme", "--role", role).stdout.strip()
              for role in ("viewer", "service", "admin", "operator")}
    service.start()
    yield Live(service, tokens)
    assert 0 == service.stop()
    log = service.log.read_text()
    assert "unhandled error" not in log and "Traceback" not in log, log[-4000:]


def assert_clean_answer(status: int, content_type: str, body: bytes, what: Any) -> None:
    assert status < 500, (what, status, body[:300])
    if status >= 400:
        assert content_type.startswith(PROBLEM), (what, status, content_type, body[:300])
        problem = json.loads(body)
        assert status == problem["status"], (what, problem)


# every header the service reads, each with bytes that are not UTF-8 (and a control character)
HEADERS = ["Authorization", "X-Tenant-ID", "X-Request-ID", "User-Agent", "Origin", "Accept", "Accept-Encoding",
           "If-None-Match", "Content-Type", "Idempotency-Key", "Access-Control-Request-Method",
           "Access-Control-Request-Headers"]
BAD_BYTES = {"latin-1 byte": b"\xff\xfe", "lone continuation byte": b"\x80", "overlong slash": b"\xc0\xaf",
             "DEL": b"\x7f"}
# (method, path, body, role or special credentials): a read, an audited write, a public page, the
# scrape and the webhook with their own tokens, a CORS preflight
TARGETS = [
    ("GET", "/api/tenant/config", b"", "viewer"),
    ("PUT", "/api/tenant/usage", b'{"cases_created": 1}', "service"),
    ("POST", "/api/monitoring/metrics/custom", b'{"name": "orders", "value": 1, "tags": {"a": "b"}}', "admin"),
    ("GET", "/api/audit-logs/search", b"", "operator"),
    ("GET", "/metrics", b"", "metrics"),
    ("POST", "/-/alertmanager/webhook", b'{"version": "4", "status": "firing", "alerts": []}', "webhook"),
    ("OPTIONS", "/api/tenant/config", b"", "preflight"),
    ("GET", "/api/monitoring/status", b"", "public"),
]


def _headers(live: Live, who: str) -> dict[str, bytes]:
    if who == "metrics":
        return {"Authorization": f"Bearer {METRICS_TOKEN}".encode()}
    if who == "webhook":
        return {"Authorization": f"Bearer {WEBHOOK_TOKEN}".encode(), "Content-Type": b"application/json"}
    if who == "preflight":
        return {"Origin": b"https://app.example.com", "Access-Control-Request-Method": b"GET"}
    if who == "public":
        return {}
    return {**live.bearer(who), "Content-Type": b"application/json"}


@pytest.mark.parametrize("header", HEADERS)
def test_bytes_that_are_not_utf8_in_any_header_never_cause_a_5xx(live: Live, header: str) -> None:
    """Each header the service reads, given bytes that are not UTF-8 (alone, and after a valid value), on
    reads, audited writes, the scrape, the webhook and preflights: a 2xx or a problem+json 4xx."""
    for method, path, body, who in TARGETS:
        for label, bad in BAD_BYTES.items():
            base = _headers(live, who)
            for value in (bad, base.get(header, b"x") + bad):
                status, ctype, answer = live.request(method, path, {**base, header: value}, body)
                assert_clean_answer(status, ctype, answer, (header, label, method, path))


def _integer_parameters(live: Live) -> list[tuple[str, str]]:
    with socket.create_connection(("127.0.0.1", live.service.port), timeout=10):
        pass
    status, _, body = live.request("GET", "/api/openapi.json", {})
    assert 200 == status
    spec = json.loads(body)
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method != "get" or "{" in path:
                continue
            found += [(path, p["name"]) for p in op.get("parameters", [])
                      if p.get("in") == "query" and p.get("schema", {}).get("type") == "integer"]
    return found


NOT_DIGITS = {"superscript two": "%C2%B2", "Arabic-Indic three": "%D9%A3", "fullwidth one": "%EF%BC%91",
              "underscore": "1_0", "space": "%201", "sign": "%2B1", "trailing newline": "1%0A"}


def test_integers_in_any_query_parameter_are_ascii_digits_or_a_400(live: Live) -> None:
    """Every integer query parameter the OpenAPI description lists refuses digits that are not ASCII (where
    `int()` would raise or accept) with a 400 problem+json."""
    params = _integer_parameters(live)
    assert len(params) >= 4, params
    for path, name in params:
        for label, raw in NOT_DIGITS.items():
            status, ctype, body = live.request("GET", f"{path}?{name}={raw}", live.bearer("operator"))
            assert (400, PROBLEM) == (status, ctype.split(";")[0]), (path, name, label, body[:300])


TARGETS_ODD = {
    "newline at the root": "/%0A",
    "newline in a regional path": "/api/tenant/region/cases%0A1",
    "newline in a feature name": "/api/tenant/feature/x%0A",
    "newline between segments": "/api/%0A/tenant",
    "newline in a badge": "/status/badge/api%0A.svg",
    "carriage return": "/api/tenant/config%0D",
    "NUL": "/%00",
    "invalid percent escape": "/%FF%FE",
    "double slash": "//api/tenant/config",
    "absolute form": "http://127.0.0.1/api/tenant/config",
    "dot segments": "/api/../api/./tenant/config",
    "asterisk": "*",
}


@pytest.mark.parametrize("target", list(TARGETS_ODD.values()), ids=list(TARGETS_ODD))
def test_every_answer_to_an_odd_path_is_problem_json(live: Live, target: str) -> None:
    """Newlines, NULs, bad escapes and odd request targets get the service's own answer, never aiohttp's text."""
    for method in ("GET", "OPTIONS", "DELETE"):
        status, ctype, body = live.request(method, target, live.bearer("viewer"))
        assert_clean_answer(status, ctype, body, (method, target))


@pytest.mark.parametrize("path", ["/api/audit-logs/", "/api/audit-logs/search", "/api/audit-logs/export",
                                  "/api/audit-logs/verify"])
def test_an_operator_naming_a_tenant_that_does_not_exist_gets_404_and_no_chain_is_made(live: Live, path: str) -> None:
    """`tenant=<made up>` is a 404 on every audit route, and the made-up name never gets an audit chain."""
    status, ctype, body = live.request("GET", f"{path}?tenant=nobody-{len(path)}", live.bearer("operator"))
    assert (404, PROBLEM, "urn:tenant-exporter:problem:unknown-tenant") == (
        status, ctype.split(";")[0], json.loads(body)["type"])
    status, _, body = live.request("GET", "/api/audit-logs/verify", live.bearer("operator"))
    assert 200 == status
    assert [] == [c for c in json.loads(body)["tenants"] if c["tenant_id"].startswith("nobody")]
