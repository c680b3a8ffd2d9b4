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
from exporter.store import start_store, text_months

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
    """Connect and migrate the store (unless the caller passed one it opened); close it last. The slow
    part of a migration (indexes built without blocking writes) goes on in the background."""
    if s.store_injected:
        yield
        return
    await start_store(s.store)
    try:
        async with running(("store-online-migration", _migrate_online(s))):
            yield
    finally:
        await s.store.close()


async def _migrate_online(s: Services) -> None:
    """Now, then every few hours: PostgreSQL's text index of the month to come is built ahead of it."""
    while True:
        try:
            await s.store.migrate_online()
        except StoreError as e:  # searches work without the indexes meanwhile
            log.warning("building indexes in the background failed (retried in %.0f h): %s",
                        text_months.CHECK_SECONDS / 3600, e)
        await asyncio.sleep(text_months.CHECK_SECONDS)


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
async def rate_limits(s: Services) -> AsyncIterator[None]:
    """With REDIS_URL: one sync before serving (shared from the first request when Redis answers; per replica,
    fail open, when it does not), then the sync in the background; the connection closed at the end."""
    sync = s.rate_sync
    if sync is None:
        yield
        return
    try:
        await sync.sync_once()
        async with running(("rate-limit-sync", sync.run_forever(s.settings.rate_limit_sync_interval))):
            yield
    finally:
        await sync.close()


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
    """The SLA history and the request SLOs' counts (need the store); batches flushed in the background and at
    the end."""
    await s.sla.load()
    await s.request_slos.load()
    s.sla.snapshot()
    async with running(("sla-flush", s.sla.run_forever()), ("slo-flush", s.request_slos.run_forever())):
        yield
    with suppress(StoreError):
        await s.sla.flush()  # a clean shutdown loses no probe result
    await s.request_slos.flush()  # ... and no counted request (a failure is logged and kept, to no avail)


@asynccontextmanager
async def monitoring(s: Services) -> AsyncIterator[None]:
    """The rule evaluator and the probes (need resources sampled once, so the first evaluation sees CPU and
    memory, and the SLA history the probes add to), each on its interval from monitoring.yml. The evaluator
    first takes back its window and alerts from before a restart, then evaluates once before any request;
    the incidents (which read both) are loaded and then kept in line every evaluation interval. In a fleet, the
    evaluator's lease is renewed (or taken when free) every FLEET_POLL_INTERVAL, and given up at a clean stop."""
    await s.alerting.restore()
    await s.alerting.tick()
    await s.maintenance.refresh()
    try:
        await s.incidents.load()
    except StoreError as e:  # the page shows none until the first sync that reaches the store
        log.warning("incidents not loaded (retrying): %s", e)
    async with running(("alert-evaluator", s.alerting.run_forever()), ("probes", s.probes.run_forever()),
                       ("incidents", s.incidents.run_forever()),
                       ("alert-evaluator-lease", s.alerting.follow_forever(s.settings.fleet_poll_interval))):
        yield
    await s.alerting.stop()  # another replica takes over at its next look


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
async def custom_metrics(s: Services) -> AsyncIterator[None]:
    """The custom series every replica wrote (those not idle past their time to live), then a sync with the
    other replicas every FLEET_POLL_INTERVAL; at the end, what this replica received since its last write."""
    await s.custom_sync.read()
    async with running(("custom-metrics-sync", s.custom_sync.run_forever(s.settings.fleet_poll_interval))):
        yield
    with suppress(StoreError):
        await s.custom_sync.write()


@asynccontextmanager
async def fleet(s: Services) -> AsyncIterator[None]:
    """Apply what other replicas change (their config reloads): the generations now in the database are taken
    as applied (the config was just read), then the database is polled."""
    await s.fleet.start()
    async with running(("fleet-changes", s.fleet.run_forever(s.settings.fleet_poll_interval))):
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
        await s.config.pass_on(result)  # every other replica reloads too

    def on_sighup() -> None:
        task = asyncio.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


STEPS: tuple[Step, ...] = (store, outbound, tenants, audit, audit_upkeep, keys_and_usage, rate_limits, resources,
                           custom_metrics, metrics_listener, sla, monitoring, alertmanager, fleet)


def lifetime(services: Services, *, handle_signals: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's one ``cleanup_ctx``: every step of ``STEPS`` (and SIGHUP for ``serve``) entered in order."""
    steps = (*STEPS, sighup) if handle_signals else STEPS

    async def run(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for step in steps:
                await stack.enter_async_context(step(services))
            yield

    return run
