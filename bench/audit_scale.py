"""The audit log at 10 M events, on SQLite and PostgreSQL: search latency, export and verify speed, and
what the migration that adds the search indexes costs on an existing log.

    .venv/bin/python bench/audit_scale.py                            # 10 M events, both stores
    .venv/bin/python bench/audit_scale.py --events 200000 --reps 5   # a quick look
    ... --keep                  keep the stores (--dir, PostgreSQL schema audit_scale) for a run with --reuse
    ... --drop                  delete kept stores, and exit

Each store is built once: events are generated (bench/audit_corpus.py) and bulk-loaded at schema
version 12, before the search indexes; then ``migrate()`` (what start-up does) and
``migrate_online()`` (what the service then does in the background) are timed while a writer
records an event every 20 ms, to show whether writes go on meanwhile. Then a real
``python -m exporter serve`` answers the searches over HTTP (bench/audit_searches.py), and
``audit export`` / ``audit verify`` run as a user runs them. Results: Markdown on stdout, JSON
under bench/results/. The stores are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import psutil
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_corpus import BIG, SMALL_TENANTS  # noqa: E402
from bench.audit_load import load, sqlite_path  # noqa: E402
from bench.audit_searches import cases, percentile, time_case  # noqa: E402
from bench.common import save_report  # noqa: E402
from exporter.audit.events import Actor, EventDraft, Target  # noqa: E402
from exporter.audit.recorder import AuditLog  # noqa: E402
from exporter.core.clock import SystemClock  # noqa: E402
from exporter.core.errors import StoreError  # noqa: E402
from exporter.store import store_for, text_months  # noqa: E402
from tests.support.helpers import make_config_dir  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "audit_scale"
T = TypeVar("T")


def url_for(backend: str, args: argparse.Namespace) -> str:
    if backend == "sqlite":
        return f"sqlite:///{args.dir.resolve() / 'audit.db'}"
    return f"{args.postgres_url}?search_path={SCHEMA}"


async def writes_during(url: str, work: Awaitable[T]) -> tuple[T, dict[str, Any]]:
    """Run ``work`` while another connection records one audit event every 20 ms; their latency."""
    store = store_for(url)
    await store.open()
    audit = AuditLog(store, SystemClock(), CollectorRegistry())
    audit.start()
    times: list[float] = []
    failures = 0

    async def writer() -> None:
        nonlocal failures
        while True:
            started = time.perf_counter()
            try:
                await audit.record(EventDraft(BIG, "usage.report", Actor.api_key("key_bench", "bench", "service"),
                                              Target("usage", BIG), details={"values": {"cases_created": 1}}))
            except StoreError:
                failures += 1
            times.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(writer())
    try:
        result = await work
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await audit.stop()
        await store.close()
    figures = {"writes": len(times), "failed": failures,
               "p99_ms": round(percentile(times, 99) * 1000, 1) if times else None,
               "max_ms": round(max(times) * 1000, 1) if times else None}
    return result, figures


async def build(url: str, n: int, end: float) -> dict[str, Any]:
    print(f"  generating and loading {n:,} events", flush=True)
    load_s = await load(url, n, end=end)
    store = store_for(url)
    await store.open()
    try:
        started = time.perf_counter()
        await store.migrate()
        start_s = time.perf_counter() - started
        print(f"  migrate() at start-up: {start_s:.1f} s; now the background part", flush=True)
        started = time.perf_counter()
        _, writes = await writes_during(url, store.migrate_online())
        online_s = time.perf_counter() - started
    finally:
        await store.close()
    return {"events": n, "end": end, "load_s": round(load_s, 1), "startup_migration_s": round(start_s, 1),
            "background_migration_s": round(online_s, 1), "writes_during_background": writes}


async def catch_up(url: str) -> float:
    """A kept store brought up to what this code declares (new migrations, indexes built online), before
    the service starts: otherwise it would build them while the searches are timed. Seconds it took."""
    store = store_for(url)
    await store.open()
    started = time.perf_counter()
    try:
        await store.migrate()
        await store.migrate_online()
    finally:
        await store.close()
    return time.perf_counter() - started


async def sizes(url: str) -> dict[str, float]:
    """Megabytes: the events table, the indexes from before migration 13, those it adds, the text index
    (PostgreSQL: the whole log's, and the one per month)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(sqlite_path(url))
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        conn.close()
    else:
        conn = await asyncpg.connect(url)
        rows = await conn.fetch("SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relnamespace = "
                                "to_regnamespace(current_schema()) AND relkind IN ('r', 'i')")
        await conn.close()
    by_name = {str(name): float(size) / 1e6 for name, size in rows}
    old = ("audit_events_tenant_time", "audit_events_time", "sqlite_autoindex_audit_events_1", "audit_events_pkey")
    text = [k for k in by_name if k.startswith("audit_events_fts") or k == "audit_events_text"]
    months = [k for k in by_name if k.startswith(text_months.PREFIX)]
    new = [k for k in by_name if k.startswith("audit_events_") and k not in old and k not in text and k not in months]
    return {"table_mb": round(by_name.get("audit_events", 0)),
            "old_indexes_mb": round(sum(by_name.get(k, 0) for k in old)),
            "new_indexes_mb": round(sum(by_name[k] for k in new)),
            "text_index_mb": round(sum(by_name[k] for k in text)),
            "text_month_indexes_mb": round(sum(by_name[k] for k in months))}


def cli(proc: ServiceProcess, *argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "exporter", *argv], cwd=proc.workdir, env=proc.env,
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done


async def http_export(proc: ServiceProcess, headers: dict[str, str]) -> dict[str, Any]:
    lines = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession(proc.url, timeout=aiohttp.ClientTimeout(total=None)) as http, http.get(
            "/api/audit-logs/export", params={"tenant": BIG, "format": "jsonl"}, headers=headers) as r:
        r.raise_for_status()
        async for chunk in r.content.iter_chunked(1 << 16):
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return {"how": "GET /api/audit-logs/export?format=jsonl", "events": lines, "seconds": round(seconds, 1),
            "events_per_s": round(lines / seconds)}


async def measure(url: str, meta: dict[str, Any], workdir: Path, reps: int, skip: set[str]) -> dict[str, Any]:
    tenants = [{"id": BIG, "name": "Big Co", "plan": "enterprise", "region": "us-east"}]
    tenants += [{"id": f"t{i:04d}", "name": f"Tenant {i}", "plan": "enterprise", "region": "us-east"}
                for i in range(SMALL_TENANTS)]
    make_config_dir(workdir / "config", tenants=tenants)
    proc = ServiceProcess(workdir, {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    admin, operator = ({"Authorization": "Bearer " + proc.cli("keys", "create", "--tenant", BIG, "--role", role)
                        .stdout.strip()} for role in ("admin", "operator"))
    proc.start(timeout=120)
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(proc.url) as http:
            async with http.get("/api/audit-logs/search", params={"tenant": BIG, "action": "api_key.create",
                                                                  "actor": "alice"}, headers=admin) as r:
                one_key = (await r.json())["data"][0]["target"]["id"]
            if "search" not in skip:
                out["searches"] = [await time_case(http, case, admin if case.scope == "admin" else operator, reps)
                                   for case in cases(meta["end"], one_key)]
        runs = []
        if "export" not in skip:
            for fmt in ("jsonl", "csv"):
                seconds, done = cli(proc, "audit", "export", "--tenant", BIG, "--format", fmt, "--output", "/dev/null")
                n = int(done.stderr.split("exported ")[1].split()[0])
                runs.append({"how": f"tenant-exporter audit export --format {fmt}", "events": n,
                             "seconds": round(seconds, 1), "events_per_s": round(n / seconds)})
            runs.append(await http_export(proc, admin))
        if "verify" not in skip:
            seconds, done = cli(proc, "audit", "verify", "--tenant", BIG)
            n = int(done.stdout.split("OK, ")[1].split()[0])
            runs.append({"how": "tenant-exporter audit verify", "events": n, "seconds": round(seconds, 1),
                         "events_per_s": round(n / seconds)})
        out["export_verify"] = runs
    finally:
        proc.stop()
    return out


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r[k] is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])
                                for k in keys) + " |" for r in rows]
    return "\n".join(lines)


async def drop(backend: str, args: argparse.Namespace) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (args.dir / f"audit.db{suffix}").unlink(missing_ok=True)
        return
    conn = await asyncpg.connect(args.postgres_url)
    await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=50, help="timed searches per kind")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "tenant-exporter-audit-scale",
                        help="SQLite file and metadata")
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--keep", action="store_true", help="keep the stores for --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure stores kept by an earlier --keep run")
    parser.add_argument("--drop", action="store_true", help="delete kept stores and exit")
    parser.add_argument("--skip", default="", help="comma-separated: search, export, verify")
    args = parser.parse_args()
    backends = args.backends.split(",")
    args.dir.mkdir(parents=True, exist_ok=True)
    meta_file = args.dir / "meta.json"
    kept: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if args.drop:
        for backend in backends:
            await drop(backend, args)
            kept.pop(backend, None)
        meta_file.write_text(json.dumps(kept))
        return
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
                              "cpus": psutil.cpu_count(), "load_avg": psutil.getloadavg()}
    for backend in backends:
        url = url_for(backend, args)
        print(f"\n## {backend}", flush=True)
        try:
            if not (args.reuse and kept.get(backend, {}).get("events") == args.events):
                await drop(backend, args)
                if backend == "postgres":
                    conn = await asyncpg.connect(args.postgres_url)
                    await conn.execute(f"CREATE SCHEMA {SCHEMA}")
                    await conn.close()
                kept[backend] = await build(url, args.events, time.time())
                meta_file.write_text(json.dumps(kept))
            else:
                print(f"  kept store brought up to date in {await catch_up(url):.1f} s", flush=True)
            meta = kept[backend]
            print(f"\n### {backend}: building\n\n{table([{k: v for k, v in meta.items() if k != 'end'}])}")
            report[backend] = {"build": meta, "sizes": await sizes(url)}
            print(f"\n### {backend}: sizes\n\n{table([report[backend]['sizes']])}", flush=True)
            work = fresh_dir(args.dir / f"service-{backend}")
            report[backend] |= await measure(url, meta, work, args.reps, set(filter(None, args.skip.split(","))))
            for part in ("searches", "export_verify"):
                if report[backend].get(part):
                    print(f"\n### {backend}: {part}\n\n{table(report[backend][part])}", flush=True)
        finally:
            if not args.keep:
                await drop(backend, args)
                kept.pop(backend, None)
                meta_file.write_text(json.dumps(kept))
    save_report("audit-scale", report)


if __name__ == "__main__":
    asyncio.run(main())
