"""Every error as ``application/problem+json`` (RFC 9457), and the request id.

The request pipeline (``pipeline.py``) gives each request an id (``X-Request-ID``: the caller's,
if sane, else a new one) and turns what a handler raises into an answer here: a ProblemError or
an aiohttp HTTP error becomes its status; a store outage becomes 503 with ``Retry-After``;
anything else is a bug: logged with its traceback, answered with a bare 500.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from exporter.core.errors import PROBLEM_TYPE_BASE, ProblemError, StoreUnavailable
from exporter.core.parsing import whole
from exporter.http.json import encode

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
REQUEST_ID: Final = web.RequestKey("request_id", str)
_SANE_ID = whole(r"[A-Za-z0-9._:-]{1,64}")
STORE_RETRY_AFTER = 5
_ID_PREFIX: Final = secrets.token_hex(6)
_IDS: Final = map(f"{_ID_PREFIX}%08x".__mod__, itertools.count(1))
# a new request id: unique per process (a counter) and across processes (a random prefix); C calls only
new_request_id: Final[Callable[[], str]] = functools.partial(next, _IDS)


def problem_response(
    request: web.Request, status: int, slug: str, title: str, detail: str,
    headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": request.get(REQUEST_ID, ""),
    }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    response = web.Response(body=encode(body), status=status, headers=headers)
    response.content_type = PROBLEM_JSON
    return response


def _from_http_error(request: web.Request, e: web.HTTPException) -> web.Response:
    slug = re.sub(r"[^a-z0-9]+", "-", e.reason.lower()).strip("-")
    detail = {
        404: f"no route matches {request.path}",
        405: f"{request.method} is not allowed here (allowed: {e.headers.get('Allow', '')})",
        413: f"the body is larger than {request.client_max_size} bytes",
    }.get(e.status, e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason)
    headers = {k: v for k, v in e.headers.items() if k.lower() not in ("content-type", "content-length")}
    return problem_response(request, e.status, slug, e.reason, detail, headers)


def request_id_for(request: web.Request) -> str:
    """The caller's ``X-Request-ID`` if it is sane, else a new one."""
    incoming = request.headers.get("X-Request-ID")
    if incoming is None:
        return next(_IDS)
    return incoming if _SANE_ID.fullmatch(incoming) else next(_IDS)


def problem_for(request: web.Request, error: Exception) -> web.Response | None:
    """The problem+json answer to an error a handler raised; None for a redirect, which passes on."""
    if isinstance(error, ProblemError):
        return problem_response(request, error.status, error.slug, error.title, error.detail, error.headers,
                                error.extra)
    if isinstance(error, web.HTTPException):
        return None if error.status < 400 else _from_http_error(request, error)
    if isinstance(error, StoreUnavailable):
        log.warning("store unavailable during %s %s: %s", request.method, request.path, error)
        return problem_response(
            request, 503, "store-unavailable", "Service Unavailable",
            "the database is unavailable; retry shortly", {"Retry-After": str(STORE_RETRY_AFTER)},
        )
    log.error("unhandled error in %s %s (request %s)", request.method, request.path, request.get(REQUEST_ID, ""),
              exc_info=error)
    return problem_response(
        request, 500, "internal", "Internal Server Error", "an unexpected error occurred; it has been logged"
    )
