"""The longest steps the event loop runs, in CPU time: stalls measured without the machine's noise.

    .venv/bin/python bench/loop_steps.py [--tenants 100000] [--seconds 20]

Wall-clock loop lag on this shared 2-core machine includes the time the kernel gives other processes
(a 1 ms sleep that wakes 40 ms late because another engineer's test suite had the core). Here the
service runs in this process on the standard asyncio loop (uvloop's handles are C and cannot be
timed one by one), every callback the loop runs is timed in *thread CPU time*, and the longest are
listed with the coroutine they belong to. The tenants are written straight into the database with an
audit chain each, as created over the API (that path is ``bench/scale.py``'s), and the heap is frozen
as ``serve`` does. Then, for ``--seconds`` each: curl scrapes /metrics back to back (gzip) while curl
sends ``GET /api/tenant/config`` requests; then the same with a reload of every tenant meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

from common import LOAD_CPU, SERVER_CPU, bench_config, free_port, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from exporter.app.composition import create_app  # noqa: E402
from exporter.audit.events import Actor, EventDraft, Target  # noqa: E402
from exporter.audit.recorder import append_events  # noqa: E402
from exporter.core.clock import SystemClock  # noqa: E402
from exporter.settings import Settings  # noqa: E402
from exporter.store import open_store  # noqa: E402
from tests.support.provisioning import write_rows  # noqa: E402

Step = tuple[float, str]
STEPS: list[Step] = []
GC_PAUSES: list[tuple[float, int]] = []  # (CPU seconds, generation) of each collection
_run = asyncio.events.Handle._run
_gc_started = [0.0]


def _gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[0] = time.thread_time()
    else:
        GC_PAUSES.append((time.thread_time() - _gc_started[0], info["generation"]))


def _timed(handle: asyncio.events.Handle) -> None:
    task = getattr(handle._callback, "__self__", None)
    frame = getattr(task.get_coro(), "cr_frame", None) if isinstance(task, asyncio.Task) else None
    request = frame.f_locals.get("request") if frame is not None else None
    started = time.thread_time()
    _run(handle)
    took = time.thread_time() - started
    if took >= 0.002:
        what = repr(handle)[:120]
        if isinstance(task, asyncio.Task):
            coro = task.get_coro()
            stack = task.get_stack()  # where the task is suspended now: the step ran up to there
            where = (f"{Path(stack[-1].f_code.co_filename).name}:{stack[-1].f_lineno} {stack[-1].f_code.co_name}"
                     if stack else "(finished)")
            what = f"{getattr(coro, '__qualname__', coro)} at {where}"
            if request is not None:
                what += f" ({request.method} {request.path})"
        STEPS.append((took, what))


async def phase(name: str, seconds: float, url: str, token: str, *, reload: bool) -> list[object]:
    del STEPS[:]
    del GC_PAUSES[:]
    scraper = await asyncio.create_subprocess_exec(
        "taskset", "-c", LOAD_CPU, "bash", "-c",
        f"while true; do curl -s -H 'Accept-Encoding: gzip' -o /dev/null {url}/metrics; done")
    client = await asyncio.create_subprocess_exec(
        "taskset", "-c", LOAD_CPU, "bash", "-c",
        f"while true; do curl -s -o /dev/null -H 'Authorization: Bearer {token}' {url}/api/tenant/config; done")
    reloads = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if reload:
            proc = await asyncio.create_subprocess_exec("curl", "-s", "-o", "/dev/null", "-X", "POST", "-H",
                                                        f"Authorization: Bearer {token}", f"{url}/-/reload")
            await proc.wait()
            reloads += 1
        await asyncio.sleep(0.5)
    for proc in (scraper, client):
        proc.kill()
        await proc.wait()
    longest = sorted(STEPS, reverse=True)[:5]
    gc_longest = max(GC_PAUSES, default=(0.0, 0))
    return [name, f"{reloads} reloads" if reload else "-", f"{longest[0][0] * 1000:.1f}" if longest else "< 2",
            f"{gc_longest[0] * 1000:.1f} (gen {gc_longest[1]}, {len(GC_PAUSES)} collections)",
            "; ".join(f"{t * 1000:.1f} ms {w}" for t, w in longest[:3])]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--active", action="store_true", help="every tenant has usage this month (flushes read it)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(SERVER_CPU)})
    work = Path(tempfile.mkdtemp(prefix="bench-steps-"))
    db = f"sqlite:///{work}/steps.db"
    store = await open_store(db)
    ids = [f"tenant-{i:06d}" for i in range(1, args.tenants + 1)]
    clock = SystemClock()
    for start in range(0, len(ids), 5000):
        await write_rows(store, ids[start:start + 5000])
        # each tenant's audit chain, as its creation over the API starts one
        await append_events(store, clock, [EventDraft(i, "tenant.create", Actor.system("bench"), Target("tenant", i))
                                           for i in ids[start:start + 5000]])
    if args.active:  # every tenant made requests this month and reported its usage
        month = time.strftime("%Y-%m", time.gmtime())
        async with store.transaction() as tx:  # type: ignore[attr-defined]
            await tx.executemany("INSERT INTO usage_monthly (tenant_id, month, api_calls) VALUES (?, ?, ?)",
                                 [(i, month, n) for n, i in enumerate(ids)])
            await tx.executemany("INSERT INTO usage_reported (tenant_id, field, value, updated_at) VALUES (?, ?, ?, ?)",
                                 [(i, "cases_created", 1.0, 0.0) for i in ids])
    await store.close()
    port = free_port()
    settings = Settings.from_env({"CONFIG_DIR": str(bench_config(work / "config")), "DATABASE_URL": db,
                                  "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING"})
    app = create_app(settings, registry=CollectorRegistry(), tune_runtime=True)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    from exporter.app.services import SERVICES
    from tests.support.helpers import make_token

    services = app[SERVICES]
    token = await make_token(services.store, services.config.current.catalog, services.clock, "bench", "operator")
    asyncio.events.Handle._run = _timed  # type: ignore[method-assign]
    gc.callbacks.append(_gc)
    url = f"http://127.0.0.1:{port}"
    rows = [await phase("scrapes back to back + config requests", args.seconds, url, token, reload=False),
            await phase("... and a reload every 0.5 s", args.seconds, url, token, reload=True)]
    asyncio.events.Handle._run = _run  # type: ignore[method-assign]
    await runner.cleanup()
    print(f"{args.tenants:,} tenants; callbacks of 2 ms CPU or more, longest first")
    print(table(rows, ["phase", "reloads", "longest step ms CPU", "longest collection ms CPU", "the three longest"]))


if __name__ == "__main__":
    asyncio.run(main())
