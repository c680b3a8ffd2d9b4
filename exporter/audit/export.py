"""How an audit event looks outside the database (JSON, JSON Lines, CSV), and streamed export.

``stream()`` reads in keyset-paginated batches (oldest first) and yields encoded chunks, so an
export of millions of rows needs the memory of one batch. CSV cells that a spreadsheet would
run as a formula (starting with ``= + - @``, tab or CR) get a leading ``'`` (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Final, Literal, cast

import msgspec

from exporter.audit.events import PLATFORM, UNTRUSTED_FIELDS
from exporter.core.clock import isoformat
from exporter.core.errors import BadRequest
from exporter.core.pacing import Pacer
from exporter.store import AuditFilter, AuditRecord, Store

Format = Literal["csv", "jsonl"]
FORMATS: Final[dict[str, str]] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
EXPORT_BATCH: Final = 1000
ENCODE_SLICE: Final = 50


def parse_format(raw: str) -> Format:
    if raw not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}", slug="invalid-parameter")
    return cast(Format, raw)


class ActorView(msgspec.Struct):
    type: str
    id: str
    name: str
    role: str


class TargetView(msgspec.Struct):
    type: str
    id: str
    name: str


class OutcomeView(msgspec.Struct):
    status: str
    reason: str | None


class EventView(msgspec.Struct):
    """One audit event. ``user_agent`` (listed in ``untrusted``) is whatever the client sent."""

    schema_version: str
    id: str
    time: str
    tenant_id: str
    action: str
    actor: ActorView
    target: TargetView | None
    outcome: OutcomeView
    request_id: str | None
    source_ip: str | None
    user_agent: str | None
    untrusted: list[str]
    details: msgspec.Raw
    seq: int
    prev_hash: str
    hash: str


def view(r: AuditRecord) -> EventView:
    target = TargetView(r.target_type, r.target_id, r.target_name) if r.target_type or r.target_id else None
    return EventView(
        schema_version=r.schema_version, id=r.id, time=fast_isoformat(r.time), tenant_id=r.tenant_id, action=r.action,
        actor=ActorView(r.actor_type, r.actor_id, r.actor_name, r.actor_role), target=target,
        outcome=OutcomeView(r.outcome, r.reason or None), request_id=r.request_id or None,
        source_ip=r.source_ip or None, user_agent=r.user_agent or None, untrusted=list(UNTRUSTED_FIELDS),
        details=msgspec.Raw(r.details.encode()), seq=r.seq, prev_hash=r.prev_hash, hash=r.hash,
    )


CSV_COLUMNS: Final = (
    "time", "id", "tenant_id", "action", "actor_type", "actor_id", "actor_name", "actor_role", "target_type",
    "target_id", "target_name", "outcome", "reason", "request_id", "source_ip", "user_agent_untrusted", "details",
    "schema_version", "seq", "prev_hash", "hash",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST: Final = frozenset(_FORMULA_START)
_EPOCH: Final = date(1970, 1, 1)


def defanged(cells: Iterable[str]) -> list[str]:
    """OWASP: each cell a spreadsheet would evaluate gets a leading apostrophe."""
    return ["'" + c if c[:1] in _FORMULA_FIRST else c for c in cells]  # one comprehension: 21 cells a row


def _csv_row(r: AuditRecord) -> list[str]:
    return defanged((
        fast_isoformat(r.time), r.id, r.tenant_id, r.action, r.actor_type, r.actor_id, r.actor_name, r.actor_role,
        r.target_type, r.target_id, r.target_name, r.outcome, r.reason, r.request_id, r.source_ip, r.user_agent,
        r.details, r.schema_version, str(r.seq), r.prev_hash, r.hash,
    ))


@functools.lru_cache(maxsize=1024)
def _day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).isoformat()


def fast_isoformat(ts: float) -> str:
    """``isoformat(ts)``, character for character, without building a datetime per event (an export
    formats millions): the date is remembered per day, the rest is arithmetic (UTC has no leap seconds
    in Unix time)."""
    frac, whole = math.modf(ts)
    micros = round(frac * 1_000_000)  # as datetime.fromtimestamp rounds (half to even)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if ts < 0 or micros < 0:
        return isoformat(ts)
    days, rest = divmod(int(whole), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros // 1000:03d}Z"


_encoder = msgspec.json.Encoder()


def encode(records: Sequence[AuditRecord], fmt: Format) -> bytes:
    if fmt == "jsonl":
        buf = bytearray()
        for r in records:
            _encoder.encode_into(view(r), buf, len(buf))
            buf += b"\n"
        return bytes(buf)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(_csv_row(r) for r in records)
    return out.getvalue().encode()


def csv_header() -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(CSV_COLUMNS)
    return out.getvalue().encode()


async def stream(store: Store, flt: AuditFilter, fmt: Format, *, batch: int = EXPORT_BATCH,
                 pacer: Pacer | None = None, progress: Callable[[int, float], None] | None = None,
                 ) -> AsyncIterator[bytes]:
    """The matching events, oldest first, read and encoded a batch at a time.

    With ``pacer`` (inside the service, where a batch of CSV would hold other requests ~10 ms),
    a batch is encoded in slices of ``ENCODE_SLICE`` rows, pausing whenever the pacer says so.
    ``progress`` is told, after each batch, how many events so far and the time of the last one.
    """
    if fmt == "csv":
        yield csv_header()
    after: tuple[float, str] | None = None
    step = ENCODE_SLICE if pacer is not None else batch
    done = 0
    while True:
        rows = await store.audit_page(flt, limit=batch, after=after, newest_first=False)
        for i in range(0, len(rows), step):
            yield encode(rows[i:i + step], fmt)
            if pacer is not None and pacer.due():
                await pacer.pause()
        done += len(rows)
        if progress is not None and rows:
            progress(done, rows[-1].time)
        if len(rows) < batch:
            return
        after = (rows[-1].time, rows[-1].id)


def filename(tenants: tuple[str, ...] | None, fmt: Format, now: float) -> str:
    """``audit-<tenant>-<UTC stamp>.<fmt>``; only filename-safe characters survive (it goes in a header)."""
    scope = tenants[0] if tenants and len(tenants) == 1 else "all"
    scope = "platform" if scope == PLATFORM else re.sub(r"[^A-Za-z0-9._-]", "_", scope)[:64]
    stamp = isoformat(now).replace("-", "").replace(":", "").split(".")[0] + "Z"
    return f"audit-{scope}-{stamp}.{fmt}"
