"""Reading the audit log: who may see which tenant, query parameters, cursor pagination.

Pages are newest first, ordered by (time, id); the cursor is opaque to clients (base64url of
the last row's time and id), so pages stay stable while events are added and deep pages cost
what the first one does. The seed's ``page`` / ``page_size`` still work (an offset; slower
deep down), and their answers carry a cursor too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from exporter.audit.events import PLATFORM
from exporter.core.errors import BadRequest, Forbidden, NotFound
from exporter.core.parsing import ascii_decimal, int_param
from exporter.store import AuditFilter, AuditRecord, Store


class Reader(Protocol):
    """Who reads: what ``scope`` needs of the caller (``auth.principal.Principal`` is one)."""

    @property
    def is_operator(self) -> bool: ...

    @property
    def tenant_id(self) -> str: ...

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_PAGE_NUMBER = 1_000_000  # page-style paging beyond this is refused (use the cursor)
MAX_SIZE_PARAM = 10**12  # a larger limit / page_size is refused; anything above MAX_LIMIT is capped
FILTER_PARAMS = ("tenant", "actor", "action", "target", "outcome", "since", "until", "q", "request_id")
PAGE_PARAMS = ("limit", "cursor", "page", "page_size")
LIST_PARAMS = FILTER_PARAMS + PAGE_PARAMS
OUTCOMES = ("success", "failure")
MIN_TEXT_CHARS = 3  # q: the trigram indexes (store/audit_search.py) find substrings this long
AUDIT_LOG_FEATURE = "audit_log"  # the plan feature that opens the audit-log API to a tenant's admins


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: tuple[float, str] | None = None
    page: int | None = None  # 1-based, with limit as the page size


@dataclass(frozen=True, slots=True)
class Page:
    records: list[AuditRecord]
    has_more: bool
    next_cursor: str | None
    total: int | None = None  # every matching event, counted when the seed's ``page`` is used


def scope(
    principal: Reader, requested: str | None, header_tenant: str | None, *, plan_has_audit_log: bool,
    known: Container[str],
) -> tuple[str, ...] | None:
    """The tenants ``principal`` may read here; None means all of them (an operator's view).

    Admins read their own tenant only, if its plan includes the ``audit_log`` feature (events
    are recorded for every tenant either way); operators read every tenant (``_platform``
    included), or the one named by ``tenant=`` or ``X-Tenant-ID``. A ``tenant=`` that is not
    ``known`` (nor ``_platform``) is a 404: nothing is read, exported or recorded under a made-up name.
    """
    if principal.is_operator:
        if requested:
            if requested != PLATFORM and requested not in known:
                raise NotFound(f"unknown tenant {requested!r}", slug="unknown-tenant")
            return (requested,)
        return (principal.tenant_id,) if header_tenant else None
    if not plan_has_audit_log:
        raise Forbidden(f"the plan of tenant {principal.tenant_id!r} does not include the audit log API "
                        f"(feature {AUDIT_LOG_FEATURE!r})", slug="feature-not-enabled")
    if requested and requested != principal.tenant_id:
        raise Forbidden(f"this key may read the audit log of tenant {principal.tenant_id!r} only",
                        slug="other-tenant")
    return (principal.tenant_id,)


def parse_filter(
    params: Mapping[str, str], tenants: tuple[str, ...] | None, *, allowed: tuple[str, ...] = LIST_PARAMS
) -> AuditFilter:
    """Filters from query parameters; unknown parameters and bad values are a 400."""
    check_params(params, allowed)
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(OUTCOMES)}", slug="invalid-parameter")
    text = params.get("q") or None
    if text is not None and len(text) < MIN_TEXT_CHARS:
        raise BadRequest(f"q must have at least {MIN_TEXT_CHARS} characters: the text search looks up every "
                         "substring of three characters in an index", slug="invalid-parameter")
    return AuditFilter(
        tenant_ids=tenants, actor=params.get("actor") or None, action=params.get("action") or None,
        target=params.get("target") or None, outcome=outcome, since=parse_time(params, "since"),
        until=parse_time(params, "until"), text=text, request_id=params.get("request_id") or None,
    )


def check_params(params: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """A typo in a parameter name is a 400 rather than a silently unfiltered answer."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(allowed)}",
                         slug="invalid-parameter")


def parse_time(params: Mapping[str, str], name: str) -> float | None:
    """RFC 3339 (``2026-11-18T10:00:00Z``; no offset means UTC) or Unix seconds."""
    raw = params.get(name, "").strip()
    if not raw:
        return None
    seconds = ascii_decimal(raw)
    if seconds is not None:
        return seconds
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as e:
        raise BadRequest(f"{name}={raw!r} is neither RFC 3339 nor Unix seconds", slug="invalid-parameter") from e
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_page(params: Mapping[str, str]) -> PageRequest:
    """``limit`` (capped at MAX_LIMIT) and ``cursor``; or the seed's ``page`` and ``page_size``."""
    limit_param = int_param(params, "limit", maximum=MAX_SIZE_PARAM)  # both checked when sent
    size_param = int_param(params, "page_size", maximum=MAX_SIZE_PARAM)
    size = size_param if size_param is not None else limit_param
    limit = min(size, MAX_LIMIT) if size is not None else DEFAULT_LIMIT
    page = int_param(params, "page", maximum=MAX_PAGE_NUMBER)
    raw_cursor = params.get("cursor")
    if raw_cursor and page is not None:
        raise BadRequest("use either cursor or page, not both", slug="invalid-parameter")
    return PageRequest(limit=limit, cursor=decode_cursor(raw_cursor) if raw_cursor else None, page=page)


def encode_cursor(record: AuditRecord) -> str:
    raw = json.dumps([record.time, record.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        time, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(time, bool) or not isinstance(time, int | float) or not isinstance(event_id, str):
            raise TypeError("cursor fields")
    except (ValueError, TypeError, binascii.Error) as e:
        raise BadRequest("the cursor is not one this service issued", slug="invalid-cursor") from e
    return float(time), event_id


async def read_page(store: Store, flt: AuditFilter, req: PageRequest) -> Page:
    """One page, newest first, and the cursor for the next one; with ``page``, also the ``total`` that
    matches (a paged table shows "page 3 of 12"; cursor paging never counts, so it stays cheap)."""
    offset = (req.page - 1) * req.limit if req.page is not None else 0
    rows = await store.audit_page(flt, limit=req.limit + 1, after=req.cursor, offset=offset)
    records, has_more = rows[: req.limit], len(rows) > req.limit
    total = await store.audit_count(flt) if req.page is not None else None
    return Page(records, has_more, encode_cursor(records[-1]) if has_more else None, total)
