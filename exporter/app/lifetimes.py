"""What starts with the app and stops with it: connections, loading, background tasks. Nothing is built here
(``services.py`` did that); each step below starts one part's I/O, and ``running_service`` enters them in
the order of ``STEPS``, each after the steps whose parts it uses, and leaves them in reverse, so a clean
stop flushes and commits everything pending.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from typing import Any

from aiohttp import web

from exporter.app.services import Services
from exporter.audit.actions import config_reload
from exporter.audit.events import Actor
from exporter.core.errors import StoreError
from exporter.http.routes.metrics import MetricsApi
from exporter.http.server import ProblemAppRunner
from exporter.store import start_store

log = logging.getLogger(__name__)
IDEMPOTENCY_KEPT = 24 * 3600.0  # seconds an Idempotency-Key answers a retry (as Stripe's)
Step = Callable[[Services], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def running(*jobs: tuple[str, Coroutine[Any, Any, Any]]) -> AsyncIterator[None]:
    """Run each named coroutine as a task while the block runs; cancel and await them all after."""
    tasks = [asyncio.create_task(job, name=name) for name, job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def store(s: Services) -> AsyncIterator[None]:
    """Connect and migrate the store (unless the caller passed one it opened); close it last."""
    if s.store_injected:
        yield
        return
    await start_store(s.store)
    try:
        yield
    finally:
        await s.store.close()


@asynccontextmanager
async def outbound(s: Services) -> AsyncIterator[None]:
    """One client session for outgoing HTTP (probes, Prometheus, Alertmanager)."""
    await s.outbound.open()
    try:
        yield
    finally:
        await s.outbound.close()


@asynccontextmanager
async def tenants(s: Services) -> AsyncIterator[None]:
    """Load the tenants provisioned over the API (needs the store); follow other replicas' changes, and
    forget idempotency keys after a day, in the background."""
    await s.tenant_sync.catch_up()

    async def forget_idempotency_keys() -> None:
        while True:
            with suppress(StoreError):
                await s.store.prune_idempotency_keys(s.clock.now() - IDEMPOTENCY_KEPT)
            await asyncio.sleep(3600)

    async with running(("tenant-sync", s.tenant_sync.feed.run_forever(s.settings.tenant_sync_interval)),
                       ("idempotency-keys", forget_idempotency_keys())):
        yield


@asynccontextmanager
async def audit(s: Services) -> AsyncIterator[None]:
    """The audit writer (needs the store); at the end it commits what is queued."""
    s.audit.start()
    try:
        yield
    finally:
        await s.audit.stop()


@asynccontextmanager
async def audit_upkeep(s: Services) -> AsyncIterator[None]:
    """Retention and checkpoints, and the custom-metric digest (needs the audit writer, flushed before it)."""
    async with running(("audit-maintenance", s.audit_maintenance.run_forever()),
                       ("custom-metric-digest", s.custom_digest.run_forever(s.settings.audit_digest_interval))):
        yield
    with suppress(StoreError):
        await s.custom_digest.flush()


@asynccontextmanager
async def keys_and_usage(s: Services) -> AsyncIterator[None]:
    """Load the keys and this month's usage (needs the store and the tenants) and render the quota series;
    flush counts, refresh keys and re-render changed tenants' series in the background."""
    await s.keyring.refresh()
    await s.usage.load()
    await s.usage_metrics.refresh(s.config.current.catalog, s.usage)
    async with running(("usage-flush", _housekeeping(s)),
                       ("quota-series", s.usage_metrics.run_forever(lambda: s.config.current.catalog, s.usage))):
        yield
    await _flush(s)  # a clean shutdown loses no count


async def _housekeeping(s: Services) -> None:
    next_refresh = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(s.settings.usage_flush_interval)
        await _flush(s)
        if loop.time() >= next_refresh:
            with suppress(StoreError):
                await s.keyring.refresh()
            next_refresh = loop.time() + s.settings.key_refresh_interval


async def _flush(s: Services) -> None:
    try:
        await s.usage.flush()
        await s.store.touch_api_keys(s.keyring.take_last_used())
    except StoreError as e:
        log.warning("usage flush failed (counts kept in memory, retrying): %s", e)
    s.usage_metrics.mark(s.usage.take_changed())  # re-rendered by the quota-series task


@asynccontextmanager
async def resources(s: Services) -> AsyncIterator[None]:
    """Sample host and process resources, and watch event-loop lag, in the background."""
    s.system.sample()

    async def sample_forever() -> None:
        while True:
            await asyncio.sleep(s.settings.system_sample_interval)
            s.system.sample()

    async with running(("system-sampler", sample_forever()), ("loop-lag", s.loop_lag.run())):
        yield


@asynccontextmanager
async def metrics_listener(s: Services) -> AsyncIterator[None]:
    """With METRICS_PORT, /metrics on a listener of its own; at the end, renderings in flight are cancelled."""
    runner: ProblemAppRunner | None = None
    if s.settings.metrics_port is not None:
        metrics_app = web.Application()
        metrics_app.router.add_routes(MetricsApi(s.renderer, s.settings.metrics_token, s.metrics_views).routes())
        runner = ProblemAppRunner(metrics_app, s.protocol_errors, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, s.settings.host, s.settings.metrics_port).start()
    try:
        yield
    finally:
        if runner is not None:
            await runner.cleanup()
        s.renderer.close()


@asynccontextmanager
async def sla(s: Services) -> AsyncIterator[None]:
    """The SLA history (needs the store); batches flushed in the background and at the end."""
    await s.sla.load()
    s.sla.snapshot()
    async with running(("sla-flush", s.sla.run_forever())):
        yield
    with suppress(StoreError):
        await s.sla.flush()  # a clean shutdown loses no probe result


@asynccontextmanager
async def monitoring(s: Services) -> AsyncIterator[None]:
    """The rule evaluator and the probes (need resources sampled once, so the first evaluation sees CPU and
    memory, and the SLA history the probes add to), each on its interval from monitoring.yml."""
    await s.alerting.tick()  # the window starts now
    async with running(("alert-evaluator", s.alerting.run_forever()), ("probes", s.probes.run_forever())):
        yield


@asynccontextmanager
async def alertmanager(s: Services) -> AsyncIterator[None]:
    """With ALERTMANAGER_URL: post the evaluator's alerts, mirror acknowledgements as silences."""
    if s.alertmanager is None:
        yield
        return
    interval = lambda: s.config.current.monitoring.evaluation_interval_ms / 1000  # noqa: E731
    async with running(("alertmanager-alerts", s.alertmanager.forwarder.run_forever(interval)),
                       ("alertmanager-silences", s.alertmanager.silences.run_forever())):
        yield


@asynccontextmanager
async def sighup(s: Services) -> AsyncIterator[None]:
    """SIGHUP reloads the config (and is audited), for the process ``serve`` runs."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    async def reload() -> None:
        result = await s.config.reload()
        with suppress(StoreError):  # logged by the audit writer; the reload itself stands
            await s.audit.record(config_reload(result, Actor.system("signal:SIGHUP")))

    def on_sighup() -> None:
        task = asyncio.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


STEPS: tuple[Step, ...] = (store, outbound, tenants, audit, audit_upkeep, keys_and_usage, resources, metrics_listener,
                           sla, monitoring, alertmanager)


def lifetime(services: Services, *, handle_signals: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's one ``cleanup_ctx``: every step of ``STEPS`` (and SIGHUP for ``serve``) entered in order."""
    steps = (*STEPS, sighup) if handle_signals else STEPS

    async def run(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for step in steps:
                await stack.enter_async_context(step(services))
            yield

    return run
