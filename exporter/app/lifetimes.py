"""The service's lifetimes: what starts with the app and stops with it (``cleanup_ctx`` contexts).

``create_app`` (app.py) decides which run and in which order; each context here sets up its part,
puts it in the app state, runs its background tasks while the app runs (``running``), and on
shutdown stops them and flushes what is pending, so that a clean stop loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiohttp
from aiohttp import web

from exporter.alertmanager.client import AlertmanagerClient
from exporter.alertmanager.forwarder import AlertForwarder
from exporter.alertmanager.silences import SilenceSync
from exporter.audit.actions import config_reload
from exporter.audit.events import Actor
from exporter.audit.recorder import AuditLog, AuthFailureSampler
from exporter.audit.retention import AuditMaintenance
from exporter.auth.keyring import Authenticator, KeyRing
from exporter.core.errors import StoreError
from exporter.http import state as keys
from exporter.http.access import Access
from exporter.http.server import ProblemAppRunner
from exporter.monitoring.engine import AlertEngine
from exporter.sla.checks import build_check
from exporter.sla.probes import ProbeRunner
from exporter.sla.tracker import SlaCollector, SlaTracker
from exporter.store import Store, open_store
from exporter.telemetry.custom_audit import SubmissionDigest
from exporter.telemetry.exposition import metrics_handler
from exporter.telemetry.system import LoopLagMonitor
from exporter.tenancy.quota import QuotaEnforcer
from exporter.tenancy.usage import UsageTracker

log = logging.getLogger(__name__)
Context = Callable[[web.Application], AsyncIterator[None]]


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


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Serve /metrics on the main listener, or on its own port when METRICS_PORT is set."""
    settings, renderer = app[keys.SETTINGS], app[keys.RENDERER]
    runner: ProblemAppRunner | None = None
    if settings.metrics_port is not None:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", metrics_handler(renderer, settings.metrics_token))
        runner = ProblemAppRunner(metrics_app, app[keys.PROTOCOL_ERRORS], access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    yield
    if runner is not None:
        await runner.cleanup()
    renderer.close()


async def resources_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sample host and process resources and watch event-loop lag, in the background."""
    settings, system = app[keys.SETTINGS], app[keys.SYSTEM]
    lag = LoopLagMonitor(app[keys.REGISTRY], settings.loop_lag_interval)
    system.sample()

    async def sample_forever() -> None:
        while True:
            await asyncio.sleep(settings.system_sample_interval)
            system.sample()

    async with running(("system-sampler", sample_forever()), ("loop-lag", lag.run())):
        yield


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client session for outgoing HTTP (probes, Prometheus), closed at shutdown."""
    async with aiohttp.ClientSession() as session:
        app[keys.HTTP] = session
        yield


async def sla_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SLA tracker: history loaded at start, batches flushed in the background and at shutdown."""
    settings, holder = app[keys.SETTINGS], app[keys.CONFIG]
    observer = settings.instance_id or f"{socket.gethostname()}:{settings.port}"
    tracker = SlaTracker(app[keys.STORE], app[keys.CLOCK], lambda: holder.current.monitoring, observer,
                         flush_interval=settings.sla_flush_interval)
    await tracker.load()
    tracker.snapshot()
    app[keys.SLA] = tracker
    app[keys.REGISTRY].register(SlaCollector(tracker))
    async with running(("sla-flush", tracker.run_forever())):
        yield
    with suppress(StoreError):
        await tracker.flush()  # a clean shutdown loses no probe result


async def monitoring_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process rule evaluator and the probes, each on its interval from monitoring.yml."""
    holder, settings, store, session = app[keys.CONFIG], app[keys.SETTINGS], app[keys.STORE], app[keys.HTTP]
    engine = AlertEngine(app[keys.REGISTRY], app[keys.CLOCK], lambda: holder.current.monitoring, app[keys.STORE])
    app[keys.ALERTING] = engine
    results = app[keys.PROBE_RESULTS]
    results.ensure(s.name for s in holder.current.monitoring.services)
    holder.on_reload(lambda config: results.ensure(s.name for s in config.monitoring.services))
    probes = ProbeRunner(lambda: holder.current.monitoring.services,
                         lambda service: build_check(service, settings, session, store),
                         app[keys.CLOCK], [results.record, app[keys.SLA].record], at_start=settings.probe_at_start)
    app[keys.PROBES] = probes
    await engine.tick()  # the window starts now
    async with running(("alert-evaluator", engine.run_forever()), ("probes", probes.run_forever())):
        yield


async def alertmanager_ctx(app: web.Application) -> AsyncIterator[None]:
    """With ALERTMANAGER_URL: post in-process alerts to Alertmanager, mirror acknowledgements as silences."""
    settings = app[keys.SETTINGS]
    if settings.alertmanager_url is None:
        yield
        return
    engine, holder, clock, registry = app[keys.ALERTING], app[keys.CONFIG], app[keys.CLOCK], app[keys.REGISTRY]
    async with aiohttp.ClientSession() as session:
        client = AlertmanagerClient(settings.alertmanager_url, session, registry, settings.alertmanager_timeout)
        forwarder = AlertForwarder(client, engine, clock, registry,
                                   resend_interval=settings.alertmanager_resend_interval,
                                   generator_url=f"{settings.public_url}/api/monitoring/alerts")
        silences = SilenceSync(client, app[keys.STORE], engine, clock, app[keys.AUDIT],
                               duration=settings.alertmanager_silence_duration,
                               interval=settings.alertmanager_sync_interval)
        engine.on_acknowledge.append(silences.wake)
        app[keys.ALERT_FORWARDER], app[keys.SILENCES] = forwarder, silences
        interval = lambda: holder.current.monitoring.evaluation_interval_ms / 1000  # noqa: E731
        async with running(("alertmanager-alerts", forwarder.run_forever(interval)),
                           ("alertmanager-silences", silences.run_forever())):
            yield


def store_ctx(injected: Store | None) -> Context:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        store = injected if injected is not None else await open_store(settings.database_url,
                                                                        wait=settings.store_timeout)
        app[keys.STORE] = store
        yield
        if injected is None:
            await store.close()

    return ctx


async def audit_ctx(app: web.Application) -> AsyncIterator[None]:
    store, clock, registry, settings = app[keys.STORE], app[keys.CLOCK], app[keys.REGISTRY], app[keys.SETTINGS]
    audit_log = AuditLog(store, clock, registry)
    app[keys.AUDIT] = audit_log
    app[keys.AUTH_FAILURES] = AuthFailureSampler(audit_log, clock, registry)
    maintenance = AuditMaintenance(store, clock, registry, settings, lambda: app[keys.CONFIG].current.catalog)
    app[keys.AUDIT_MAINTENANCE] = maintenance
    digest = app[keys.CUSTOM_DIGEST] = SubmissionDigest(audit_log, clock)
    audit_log.start()
    async with running(("audit-maintenance", maintenance.run_forever()),
                       ("custom-metric-digest", digest.run_forever(settings.audit_digest_interval))):
        yield
    with suppress(StoreError):
        await digest.flush()
    await audit_log.stop()  # commits what is queued


async def usage_ctx(app: web.Application) -> AsyncIterator[None]:
    store, clock = app[keys.STORE], app[keys.CLOCK]
    keyring = KeyRing(store, clock)
    usage = UsageTracker(store, clock)
    await keyring.refresh()
    await usage.load()
    app[keys.KEYRING] = keyring
    app[keys.USAGE] = usage
    app[keys.QUOTA] = QuotaEnforcer(usage, clock)
    app[keys.ACCESS] = Access(Authenticator(keyring), app[keys.QUOTA], app[keys.CONFIG], app[keys.ACTIVE_USERS])
    app[keys.USAGE_METRICS].refresh(app[keys.CONFIG].current.catalog, usage)
    async with running(("usage-flush", _housekeeping(app))):
        yield
    await _flush(app)  # a clean shutdown loses no count


async def _housekeeping(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    next_refresh = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(settings.usage_flush_interval)
        await _flush(app)
        if loop.time() >= next_refresh:
            with suppress(StoreError):
                await app[keys.KEYRING].refresh()
            next_refresh = loop.time() + settings.key_refresh_interval


async def _flush(app: web.Application) -> None:
    try:
        await app[keys.USAGE].flush()
        await app[keys.STORE].touch_api_keys(app[keys.KEYRING].take_last_used())
    except StoreError as e:
        log.warning("usage flush failed (counts kept in memory, retrying): %s", e)
    app[keys.USAGE_METRICS].refresh(app[keys.CONFIG].current.catalog, app[keys.USAGE])


async def sighup_ctx(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    async def reload() -> None:
        result = await app[keys.CONFIG].reload()
        with suppress(StoreError):  # logged by the audit writer; the reload itself stands
            await app[keys.AUDIT].record(config_reload(result, Actor.system("signal:SIGHUP")))

    def on_sighup() -> None:
        task = asyncio.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    yield
    loop.remove_signal_handler(signal.SIGHUP)
