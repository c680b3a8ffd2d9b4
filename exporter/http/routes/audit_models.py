"""Response bodies of the audit-log API (and the source of its OpenAPI schemas)."""

from __future__ import annotations

import msgspec

from exporter.audit.chain import Verification
from exporter.audit.export import EventView


class AuditPage(msgspec.Struct):
    """A page of events, newest first. Pass ``next_cursor`` as ``cursor`` for the next page.

    With the seed's ``page`` / ``page_size``, ``total`` is the number of events that match (so a
    paged table knows its last page: ceil(total / page_size)); cursor paging leaves it ``null``.
    """

    data: list[EventView]
    has_more: bool
    next_cursor: str | None
    limit: int
    page: int | None = None
    page_size: int | None = None
    total: int | None = None


class BreakOut(msgspec.Struct):
    seq: int
    id: str | None
    reason: str


class ChainOut(msgspec.Struct):
    tenant_id: str
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    anchor_seq: int
    checkpoint_seq: int | None
    first_broken: BreakOut | None


class VerifyOut(msgspec.Struct):
    ok: bool
    tenants: list[ChainOut]


def chain_out(v: Verification) -> ChainOut:
    broken = BreakOut(v.broken.seq, v.broken.id or None, v.broken.reason) if v.broken else None
    return ChainOut(v.tenant_id, v.ok, v.checked, v.head_seq, v.head_hash, v.anchor_seq, v.checkpoint_seq, broken)
