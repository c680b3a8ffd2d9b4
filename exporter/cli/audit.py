"""``tenant-exporter audit verify | export | checkpoint``: the audit log from the command line.

    verify      walk each tenant's hash chain; exit 1 and name the first broken row
    export      what GET /api/audit-logs/export does, to a file or stdout
    checkpoint  write each chain's head, signed with AUDIT_CHECKPOINT_KEY, to keep elsewhere

On a terminal, verify and export show their progress on stderr (events done, rate, time left);
piped or redirected, stderr holds only their results.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from exporter.audit import chain as audit_chain
from exporter.audit import export as audit_export
from exporter.audit import query as audit_query
from exporter.audit.events import PLATFORM, Actor, EventDraft
from exporter.core.clock import SystemClock, isoformat
from exporter.core.pacing import Pacer
from exporter.core.progress import Progress, duration
from exporter.settings import Settings
from exporter.store import AuditFilter, Store, open_store

CLI_BATCH = 5000  # rows per read: nothing else is waiting for the loop here
CLI_SLICE_SECONDS = 1.0  # a verify gives the loop back once a second (the progress line needs no more)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify, export or checkpoint the audit log")
    commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = commands.add_parser("verify", help="check the hash chains; exit 1 naming the first broken row")
    verify.add_argument("--tenant", help="only this tenant's chain (default: every chain)")
    verify.add_argument("--checkpoint", type=Path,
                        help="a file from `audit checkpoint`: also detects a cut or rewritten tail")
    export = commands.add_parser("export", help="export events as CSV or JSON Lines (oldest first)")
    export.add_argument("--tenant", help="only this tenant (default: every tenant)")
    export.add_argument("--format", choices=sorted(audit_export.FORMATS), default="jsonl")
    export.add_argument("--actor", help="actor id or name")
    export.add_argument("--action", help="action or its prefix, e.g. api_key")
    export.add_argument("--target", help="target id or name")
    export.add_argument("--outcome", choices=audit_query.OUTCOMES)
    export.add_argument("--since", help="RFC 3339 or Unix seconds (inclusive)")
    export.add_argument("--until", help="RFC 3339 or Unix seconds (exclusive)")
    export.add_argument("-q", dest="q", help="text in details or target name (at least 3 characters)")
    export.add_argument("--request-id", dest="request_id")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    checkpoint = commands.add_parser("checkpoint", help="write every chain's head, signed, to a file")
    checkpoint.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url, wait=settings.store_timeout)
    try:
        if args.audit_command == "verify":
            return await _verify(store, settings, args.tenant, args.checkpoint)
        if args.audit_command == "export":
            return await _export(store, args)
        return await _checkpoint(store, settings, args.output)
    finally:
        await store.close()


async def _verify(store: Store, settings: Settings, tenant: str | None, checkpoint_file: Path | None) -> int:
    checkpoints = audit_chain.read_checkpoint_file(checkpoint_file) if checkpoint_file else None
    heads = [h for h in await store.audit_heads() if tenant is None or h.tenant_id == tenant]
    progress = Progress("verifying", unit="events", total=sum(h.seq - h.anchor_seq for h in heads))
    started = time.monotonic()
    results = await audit_chain.verify_tenants(
        store, [tenant] if tenant else None, key=settings.audit_checkpoint_key, checkpoints=checkpoints,
        pacer=Pacer(CLI_SLICE_SECONDS), batch=CLI_BATCH, progress=progress.update,
    )
    progress.done()
    checked = sum(v.checked for v in results)
    if checked:
        print(f"verified {checked} event(s) {_took(checked, started)}", file=sys.stderr)
    if not results:
        print("no audit chains yet")
    for v in results:
        against = f", checkpoint seq {v.checkpoint_seq}" if v.checkpoint_seq is not None else ""
        if v.ok:
            print(f"{v.tenant_id}: OK, {v.checked} record(s) verified (seq {v.anchor_seq + 1}..{v.head_seq}, "
                  f"head {v.head_hash[:16]}…{against})")
        else:
            print(f"{v.tenant_id}: BROKEN at {v.broken}", file=sys.stderr)
    return 0 if all(v.ok for v in results) else 1


async def _export(store: Store, args: argparse.Namespace) -> int:
    from exporter.audit.actions import AUDIT_LOG_EXPORT
    from exporter.audit.recorder import append_events

    params = {name: value for name in audit_query.FILTER_PARAMS if (value := getattr(args, name, None))}
    tenants = (args.tenant,) if args.tenant else None
    flt = audit_query.parse_filter(params, tenants)
    fmt = audit_export.parse_format(args.format)
    clock = SystemClock()
    await append_events(store, clock, [EventDraft(
        args.tenant or PLATFORM, AUDIT_LOG_EXPORT, Actor.cli(),
        details={"format": fmt, "filters": params, "output": str(args.output or "-")},
    )])
    progress = Progress("exporting", unit="events")
    span = await _time_span(store, flt)
    started = time.monotonic()

    def advance(done: int, at: float) -> None:
        progress.update(done, fraction=(at - span[0]) / (span[1] - span[0]) if span[1] > span[0] else None)

    rows = 0
    with _output(args.output) as out:
        async for chunk in audit_export.stream(store, flt, fmt, batch=CLI_BATCH, progress=advance):
            out.write(chunk)
            rows += chunk.count(b"\n")
    progress.done()
    header = 1 if fmt == "csv" else 0
    to = f" to {args.output}" if args.output else ""
    print(f"exported {rows - header} event(s){to} {_took(rows - header, started)}", file=sys.stderr)
    return 0


def _took(events: int, started: float) -> str:
    seconds = time.monotonic() - started
    return f"in {duration(seconds)} ({events / max(seconds, 1e-6):,.0f}/s)"


async def _time_span(store: Store, flt: AuditFilter) -> tuple[float, float]:
    """The times of the first and the last matching event (an export's progress is its position in time)."""
    first = await store.audit_page(flt, limit=1, newest_first=False)
    last = await store.audit_page(flt, limit=1)
    return (first[0].time, last[0].time) if first and last else (0.0, 0.0)


async def _checkpoint(store: Store, settings: Settings, output: Path | None) -> int:
    now = SystemClock().now()
    key = settings.audit_checkpoint_key
    checkpoints = [audit_chain.make_checkpoint(key, h.tenant_id, h.seq, h.hash, now)
                   for h in await store.audit_heads() if h.seq > 0]
    await store.save_audit_checkpoints(checkpoints)
    document = audit_chain.checkpoint_document(checkpoints)
    if output is None:
        sys.stdout.write(document)
    else:
        await asyncio.to_thread(output.write_text, document)
    signed = "signed" if key else "UNSIGNED (set AUDIT_CHECKPOINT_KEY to sign)"
    print(f"{len(checkpoints)} checkpoint(s) at {isoformat(now)}, {signed}", file=sys.stderr)
    return 0


@contextmanager
def _output(path: Path | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with path.open("wb") as out:
        yield out
