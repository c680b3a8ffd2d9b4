"""Audit-log benchmarks, on SQLite and PostgreSQL in one run.

1. Acknowledged writes: ``--writers`` concurrent writers each record events and wait for the
   commit, once through the group-committing ``AuditLog`` and once committing every event in
   its own transaction (the same SQL and chain lock). Events/s and latency percentiles.
2. Export: ``--export-events`` events are written, then a real ``python -m exporter serve``
   streams them over HTTP as CSV and JSON Lines (and ``audit export`` writes CSV to /dev/null)
   while the process's RSS is sampled; a 10% export shows that peak memory does not grow with size.
   Then ``GET /api/audit-logs/verify`` hashes the whole chain again inside the service. During
   each HTTP export and the verify, a client sends back-to-back ``GET /-/healthy``: its slowest
   answer is how long the service's other requests were held.

    .venv/bin/python bench/audit_bench.py                      # both parts, both stores
    .venv/bin/python bench/audit_bench.py --skip-export --events 4000
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test (the default)

Results are printed as Markdown and saved under bench/results/ (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import save_report  # noqa: E402
from exporter.audit.chain import seal, verify_chain  # noqa: E402
from exporter.audit.events import Actor, EventDraft, Target, to_record  # noqa: E402
from exporter.audit.recorder import AuditLog, append_events  # noqa: E402
from exporter.core.clock import SystemClock  # noqa: E402
from exporter.store import open_store  # noqa: E402
from tests.support.helpers import TWO_TENANTS, make_config_dir  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def draft(i: int, tenant: str = "acme") -> EventDraft:
    return EventDraft(tenant, "usage.report", Actor.api_key("key_bench", "bench", "service"), Target("usage", tenant),
                      details={"values": {"cases_created": i, "storage_used_gb": 1.5}})


@asynccontextmanager
async def database(backend: str, postgres_url: str) -> AsyncIterator[str]:
    """A fresh database URL: a SQLite file in a temp dir, or a new PostgreSQL schema."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in postgres_url else "?"
        yield f"{postgres_url}{sep}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def acknowledged_writes(url: str, mode: str, writers: int, events: int, tenants: int) -> dict[str, Any]:
    store = await open_store(url)
    clock = SystemClock()
    audit = AuditLog(store, clock, CollectorRegistry())
    audit.start()
    record: Callable[[EventDraft], Awaitable[object]] = (
        audit.record if mode == "group commit" else lambda d: append_events(store, clock, [d]))
    latencies: list[float] = []

    async def writer(w: int) -> None:
        for i in range(events // writers):
            start = time.perf_counter()
            await record(draft(i, f"tenant-{w % tenants}"))
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - started
    await audit.stop()
    ok = all([(await verify_chain(store, f"tenant-{t}")).ok for t in range(tenants)])
    await store.close()
    q = statistics.quantiles(latencies, n=100)
    return {"mode": mode, "writers": writers, "events": len(latencies), "seconds": round(elapsed, 2),
            "events_per_s": round(len(latencies) / elapsed), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2), "chains_verify": ok}


async def fill(url: str, n: int, batch: int = 5000) -> float:
    """Write ``n`` sealed events for tenant acme, 1 ms apart, in big transactions."""
    store = await open_store(url)
    start = time.perf_counter()
    t0 = time.time() - n / 1000
    for first in range(0, n, batch):
        await store.append_audit([to_record(draft(i), t0 + i / 1000) for i in range(first, min(n, first + batch))],
                                 seal)
    await store.close()
    return time.perf_counter() - start


class RssSampler:
    """Peak resident memory of one process, sampled every 10 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.baseline = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class StallProbe:
    """Back-to-back ``GET /-/healthy`` while something else runs on the service: the slowest answer
    is about the longest the service's event loop was held (its requests waited that long)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.times: list[float] = []

    async def __aenter__(self) -> StallProbe:
        self._http = aiohttp.ClientSession(self._url)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            async with self._http.get("/-/healthy") as r:
                await r.read()
            self.times.append(time.perf_counter() - start)

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._http.close()

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.times) or [0.0]
        return {"healthy_p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
                "healthy_max_ms": round(ordered[-1] * 1000, 1)}


async def http_verify(proc: ServiceProcess, token: str, n: int) -> dict[str, Any]:
    """``GET /api/audit-logs/verify?tenant=acme``: the whole chain hashed again, inside the service."""
    start = time.perf_counter()
    async with StallProbe(proc.url) as probe, aiohttp.ClientSession(
        proc.url, timeout=aiohttp.ClientTimeout(total=None)
    ) as http, http.get("/api/audit-logs/verify", params={"tenant": "acme"},
                        headers={"Authorization": f"Bearer {token}"}) as r:
        r.raise_for_status()
        body = await r.json()
    elapsed = time.perf_counter() - start
    assert body["ok"], body
    return {"how": "GET /api/audit-logs/verify?tenant=acme", "rows": n, "mb": None, "seconds": round(elapsed, 1),
            "rows_per_s": round(n / elapsed), "rss_before_mb": None, "rss_peak_mb": None, **probe.figures()}


async def http_export(proc: ServiceProcess, token: str, fmt: str, until: float | None) -> dict[str, Any]:
    assert proc.proc is not None
    sampler = RssSampler(proc.proc.pid)
    params = {"format": fmt, **({"until": str(until)} if until else {})}
    size = lines = 0
    start = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=None)
    async with StallProbe(proc.url) as probe, aiohttp.ClientSession(proc.url, timeout=timeout) as http, http.get(
        "/api/audit-logs/export", params=params, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        r.raise_for_status()
        async for chunk in r.content.iter_chunked(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - start
    sampler.stop()
    rows = lines - (1 if fmt == "csv" else 0)
    return {"how": f"GET /api/audit-logs/export?format={fmt}", "rows": rows, "mb": round(size / 1e6, 1),
            "seconds": round(elapsed, 1), "rows_per_s": round(rows / elapsed),
            "rss_before_mb": round(sampler.baseline / 2**20, 1), "rss_peak_mb": round(sampler.peak / 2**20, 1),
            **probe.figures()}


def cli_export(proc: ServiceProcess) -> dict[str, Any]:
    import subprocess

    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "exporter", "audit", "export", "--tenant", "acme",
                              "--format", "csv", "--output", "/dev/null"],
                             cwd=proc.workdir, env=proc.env, stderr=subprocess.PIPE)
    sampler = RssSampler(child.pid)
    _, err = child.communicate()
    sampler.stop()
    elapsed = time.perf_counter() - start
    rows = int(err.decode().split()[1])
    return {"how": "tenant-exporter audit export --format csv", "rows": rows, "mb": None,
            "seconds": round(elapsed, 1), "rows_per_s": round(rows / elapsed), "rss_before_mb": None,
            "rss_peak_mb": round(sampler.peak / 2**20, 1), "healthy_p99_ms": None, "healthy_max_ms": None}


async def export_bench(url: str, n: int) -> tuple[float, list[dict[str, Any]]]:
    fill_seconds = await fill(url, n)
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        workdir = Path(tmp)
        make_config_dir(workdir / "config", tenants=TWO_TENANTS)
        proc = ServiceProcess(workdir, {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        token = proc.cli("keys", "create", "--tenant", "acme", "--role", "admin").stdout.strip()
        proc.start()
        try:
            store = await open_store(url)
            first = (await store.audit_chain("acme", after_seq=0, upto_seq=1, limit=1))[0].time
            await store.close()
            rows = [await http_export(proc, token, "csv", first + n / 10_000)]  # the first 10%
            rows += [await http_export(proc, token, fmt, None) for fmt in ("csv", "jsonl")]
            rows.append(await http_verify(proc, token, n))
            rows.append(cli_export(proc))
        finally:
            proc.stop()
    return fill_seconds, rows


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r[k] is None else str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--events", type=int, default=5000, help="acknowledged writes per mode")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--tenants", type=int, default=1, help="writers spread over this many tenants")
    parser.add_argument("--export-events", type=int, default=1_000_000)
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
                              "cpus": psutil.cpu_count(), "load_avg": psutil.getloadavg()}
    for backend in args.backends.split(","):
        if not args.skip_writes:
            writes = []
            for writers in args.writers:
                for mode in ("group commit", "one by one"):
                    async with database(backend, args.postgres_url) as url:
                        writes.append(await acknowledged_writes(url, mode, writers, args.events, args.tenants))
            report[f"{backend} writes"] = writes
            print(f"\n### {backend}: acknowledged audit writes ({args.tenants} tenant(s))\n\n{table(writes)}")
        if not args.skip_export:
            async with database(backend, args.postgres_url) as url:
                fill_seconds, exports = await export_bench(url, args.export_events)
            report[f"{backend} export"] = {"fill_seconds": round(fill_seconds, 1), "runs": exports}
            print(f"\n### {backend}: export of {args.export_events:,} events "
                  f"(written in {fill_seconds:.0f} s)\n\n{table(exports)}")
    save_report("audit", report)


if __name__ == "__main__":
    asyncio.run(main())
