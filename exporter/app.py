"""The composition root: ``create_app`` builds the web.Application and is the only place that
wires parts together (state, middlewares, routes, background work in ``cleanup_ctx``).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter import __version__, keys, runtime
from exporter.active_users import ActiveUsers
from exporter.alerting import AlertEngine
from exporter.alertmanager import AlertmanagerClient
from exporter.am_alerts import AlertForwarder
from exporter.am_silences import SilenceSync
from exporter.am_webhook import NotificationLog
from exporter.api import admin, alertmanager, audit, docs, monitoring, ofrep, status, tenant, testing
from exporter.api import sla as sla_api
from exporter.api.access import access_middleware
from exporter.api.cors import cors_middleware
from exporter.api.json import BodyCache, LatestBody
from exporter.api.openapi import build_spec
from exporter.api.problems import problems_middleware
from exporter.audit import Actor
from exporter.audit_actions import config_reload
from exporter.audit_recorder import AuditLog, AuthFailureSampler
from exporter.audit_retention import AuditMaintenance
from exporter.auth import KeyRing
from exporter.clock import Clock, SystemClock
from exporter.config import Config, ConfigHolder, load_config
from exporter.custom_metrics import CustomMetrics
from exporter.custom_metrics_audit import SubmissionDigest
from exporter.errors import StoreError
from exporter.exposition import MetricsRenderer, metrics_handler
from exporter.probe_checks import build_check
from exporter.probes import ProbeCollector, ProbeRunner
from exporter.quota import QuotaEnforcer
from exporter.settings import Settings
from exporter.sla_tracker import SlaCollector, SlaTracker
from exporter.store import Store, open_store
from exporter.system import LoopLagMonitor, SystemCollector
from exporter.telemetry import HttpMetrics, telemetry_middleware
from exporter.usage import UsageTracker
from exporter.usage_metrics import UsageCollector

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    config: Config | None = None,
    handle_signals: bool = False,
    tune_runtime: bool = False,
) -> web.Application:
    """Build the service. Raises ConfigError when the config files are invalid.

    ``handle_signals`` (SIGHUP reload) and ``tune_runtime`` (GIL switch interval, gc freeze) are
    for the process that ``tenant-exporter serve`` runs, not for an app embedded in tests.
    """
    registry = registry if registry is not None else CollectorRegistry()
    clock = clock if clock is not None else SystemClock()
    config = config if config is not None else load_config(settings)

    middlewares: list[Any] = [problems_middleware, access_middleware]
    if settings.cors_origins:
        middlewares.insert(0, cors_middleware(settings.cors_origins))
    if settings.metrics_enabled:
        http_metrics = HttpMetrics(registry, max_series=settings.metrics_max_series)
        middlewares.insert(0, telemetry_middleware(http_metrics, settings.metrics_exclude_paths))
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock
    app[keys.REGISTRY] = registry
    app[keys.CONFIG] = ConfigHolder(settings, config, registry=registry, clock=clock)
    app[keys.BODIES] = BodyCache()
    app[keys.STATUS_BODY] = LatestBody()
    _register_collectors(app, registry)
    _monitoring_state(app)

    app.cleanup_ctx.append(_store_ctx(store))
    app.cleanup_ctx.append(_audit_ctx)
    app.cleanup_ctx.append(_usage_ctx)
    app.cleanup_ctx.append(_resources_ctx)
    app.cleanup_ctx.append(_metrics_ctx)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_sla_ctx)
    app.cleanup_ctx.append(_monitoring_ctx)  # after _resources_ctx: the first evaluation sees CPU and memory
    app.cleanup_ctx.append(_alertmanager_ctx)  # after _monitoring_ctx (the evaluator) and _audit_ctx
    if handle_signals:
        app.cleanup_ctx.append(_sighup_ctx)
    if tune_runtime:
        runtime.tune_process()
        app.on_startup.append(runtime.freeze_heap)

    app.add_routes(admin.routes)
    app.add_routes(tenant.routes)
    app.add_routes(ofrep.routes)
    app.add_routes(audit.routes)
    app.add_routes(monitoring.routes)
    app.add_routes(sla_api.routes)
    app.add_routes(status.routes)
    app.add_routes(alertmanager.routes)
    if settings.enable_test_routes:
        app.add_routes(testing.routes)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", metrics_handler(app[keys.RENDERER], settings.metrics_token))
    app.add_routes(docs.routes)
    app.on_startup.append(_describe)
    return app


async def _describe(app: web.Application) -> None:
    """Build the OpenAPI description once; a route without one stops the start here."""
    app[docs.SPEC] = build_spec(app)


def _register_collectors(app: web.Application, registry: CollectorRegistry) -> None:
    # `_created` samples double every counter and histogram in the text format, and Prometheus
    # stores them as separate gauges; like the Go client, leave them out.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    build = Gauge("tenant_exporter_build_info", "Version of tenant-exporter and of Python (value is always 1).",
                  ["version", "python_version"], registry=registry)
    build.labels(__version__, platform.python_version()).set(1)
    app[keys.SYSTEM] = SystemCollector()
    app[keys.USAGE_METRICS] = UsageCollector()
    registry.register(app[keys.SYSTEM])
    registry.register(app[keys.USAGE_METRICS])
    app[keys.RENDERER] = MetricsRenderer(registry)


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Serve /metrics on the main listener, or on its own port when METRICS_PORT is set."""
    settings, renderer = app[keys.SETTINGS], app[keys.RENDERER]
    runner: web.AppRunner | None = None
    if settings.metrics_port is not None:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", metrics_handler(renderer, settings.metrics_token))
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    yield
    if runner is not None:
        await runner.cleanup()
    renderer.close()


async def _resources_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sample host and process resources and watch event-loop lag, in the background."""
    settings, system = app[keys.SETTINGS], app[keys.SYSTEM]
    lag = LoopLagMonitor(app[keys.REGISTRY], settings.loop_lag_interval)
    system.sample()

    async def sample_forever() -> None:
        while True:
            await asyncio.sleep(settings.system_sample_interval)
            system.sample()

    tasks = [asyncio.create_task(sample_forever(), name="system-sampler"),
             asyncio.create_task(lag.run(), name="loop-lag")]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task


def _monitoring_state(app: web.Application) -> None:
    """Custom metrics, probe results and the active-user hook exist from the start (no background work)."""
    registry, clock, holder = app[keys.REGISTRY], app[keys.CLOCK], app[keys.CONFIG]
    app[keys.ACTIVE_USERS] = ActiveUsers(clock)
    app.on_response_prepare.append(app[keys.ACTIVE_USERS].on_response_prepare)
    app[keys.CUSTOM_METRICS] = CustomMetrics(registry, clock, lambda: holder.current.monitoring.custom_metrics)
    app[keys.PROBE_RESULTS] = ProbeCollector()
    registry.register(app[keys.PROBE_RESULTS])
    app[keys.NOTIFICATIONS] = NotificationLog(registry, app[keys.SETTINGS].alertmanager_webhook_history)


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client session for outgoing HTTP (probes, Prometheus), closed at shutdown."""
    async with aiohttp.ClientSession() as session:
        app[keys.HTTP] = session
        yield


async def _sla_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SLA tracker: history loaded at start, batches flushed in the background and at shutdown."""
    settings, holder = app[keys.SETTINGS], app[keys.CONFIG]
    observer = settings.instance_id or f"{socket.gethostname()}:{settings.port}"
    tracker = SlaTracker(app[keys.STORE], app[keys.CLOCK], lambda: holder.current.monitoring, observer,
                         flush_interval=settings.sla_flush_interval)
    await tracker.load()
    tracker.snapshot()
    app[keys.SLA] = tracker
    app[keys.REGISTRY].register(SlaCollector(tracker))
    task = asyncio.create_task(tracker.run_forever(), name="sla-flush")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    with suppress(StoreError):
        await tracker.flush()  # a clean shutdown loses no probe result


async def _monitoring_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process rule evaluator and the probes, each on its interval from monitoring.yml."""
    holder, settings, store, session = app[keys.CONFIG], app[keys.SETTINGS], app[keys.STORE], app[keys.HTTP]
    engine = AlertEngine(app[keys.REGISTRY], app[keys.CLOCK], lambda: holder.current.monitoring, app[keys.STORE])
    app[keys.ALERTING] = engine
    results = app[keys.PROBE_RESULTS]
    results.ensure(s.name for s in holder.current.monitoring.services)
    holder.on_reload(lambda config: results.ensure(s.name for s in config.monitoring.services))
    probes = ProbeRunner(lambda: holder.current.monitoring.services,
                         lambda service: build_check(service, settings, session, store),
                         app[keys.CLOCK], [results.record, app[keys.SLA].record])
    app[keys.PROBES] = probes
    await engine.tick()  # the window starts now; each probe runs one interval after the start
    tasks = [asyncio.create_task(engine.run_forever(), name="alert-evaluator"),
             asyncio.create_task(probes.run_forever(), name="probes")]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task


async def _alertmanager_ctx(app: web.Application) -> AsyncIterator[None]:
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
        tasks = [asyncio.create_task(forwarder.run_forever(
                     lambda: holder.current.monitoring.evaluation_interval_ms / 1000), name="alertmanager-alerts"),
                 asyncio.create_task(silences.run_forever(), name="alertmanager-silences")]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


def _store_ctx(injected: Store | None):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = injected if injected is not None else await open_store(app[keys.SETTINGS].database_url)
        app[keys.STORE] = store
        yield
        if injected is None:
            await store.close()

    return ctx


async def _audit_ctx(app: web.Application) -> AsyncIterator[None]:
    store, clock, registry, settings = app[keys.STORE], app[keys.CLOCK], app[keys.REGISTRY], app[keys.SETTINGS]
    audit_log = AuditLog(store, clock, registry)
    app[keys.AUDIT] = audit_log
    app[keys.AUTH_FAILURES] = AuthFailureSampler(audit_log, clock, registry)
    maintenance = AuditMaintenance(store, clock, registry, settings, lambda: app[keys.CONFIG].current.catalog)
    app[keys.AUDIT_MAINTENANCE] = maintenance
    digest = app[keys.CUSTOM_DIGEST] = SubmissionDigest(audit_log, clock)
    audit_log.start()
    tasks = [asyncio.create_task(maintenance.run_forever(), name="audit-maintenance"),
             asyncio.create_task(digest.run_forever(settings.audit_digest_interval), name="custom-metric-digest")]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    with suppress(StoreError):
        await digest.flush()
    await audit_log.stop()  # commits what is queued


async def _usage_ctx(app: web.Application) -> AsyncIterator[None]:
    store, clock = app[keys.STORE], app[keys.CLOCK]
    keyring = KeyRing(store, clock)
    usage = UsageTracker(store, clock)
    await keyring.refresh()
    await usage.load()
    app[keys.KEYRING] = keyring
    app[keys.USAGE] = usage
    app[keys.QUOTA] = QuotaEnforcer(usage, clock)
    app[keys.USAGE_METRICS].refresh(app[keys.CONFIG].current.catalog, usage)
    task = asyncio.create_task(_housekeeping(app), name="usage-flush")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
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


async def _sighup_ctx(app: web.Application) -> AsyncIterator[None]:
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
