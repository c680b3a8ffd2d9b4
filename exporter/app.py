"""The composition root: ``create_app`` builds the web.Application and is the only place that
wires parts together (state, middlewares, routes, background work in ``cleanup_ctx``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter import keys
from exporter.active_users import ActiveUsers
from exporter.alerting import AlertEngine
from exporter.api import admin, monitoring, ofrep, tenant
from exporter.api.access import access_middleware
from exporter.api.cors import cors_middleware
from exporter.api.problems import problems_middleware
from exporter.auth import KeyRing
from exporter.clock import Clock, SystemClock
from exporter.config import Config, ConfigHolder, load_config
from exporter.custom_metrics import CustomMetrics
from exporter.errors import StoreError
from exporter.probes import ProbeCollector, ProbeRunner, build_probes
from exporter.quota import QuotaEnforcer
from exporter.settings import Settings
from exporter.store import Store, open_store
from exporter.usage import UsageTracker

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    config: Config | None = None,
    handle_signals: bool = False,
) -> web.Application:
    """Build the service. Raises ConfigError when the config files are invalid."""
    registry = registry if registry is not None else CollectorRegistry()
    clock = clock if clock is not None else SystemClock()
    config = config if config is not None else load_config(settings)

    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[cors_middleware(settings.cors_origins), problems_middleware, access_middleware],
    )
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock
    app[keys.REGISTRY] = registry
    app[keys.CONFIG] = ConfigHolder(settings, config, registry=registry, clock=clock)
    _monitoring_state(app)

    app.cleanup_ctx.append(_store_ctx(store))
    app.cleanup_ctx.append(_usage_ctx)
    app.cleanup_ctx.append(_monitoring_ctx)
    if handle_signals:
        app.cleanup_ctx.append(_sighup_ctx)

    app.add_routes(admin.routes)
    app.add_routes(tenant.routes)
    app.add_routes(ofrep.routes)
    app.add_routes(monitoring.routes)
    return app


def _monitoring_state(app: web.Application) -> None:
    """Collectors and the active-user hook, which exist from the start (no background work here)."""
    registry, clock, holder = app[keys.REGISTRY], app[keys.CLOCK], app[keys.CONFIG]
    app[keys.ACTIVE_USERS] = ActiveUsers(clock)
    app.on_response_prepare.append(app[keys.ACTIVE_USERS].on_response_prepare)
    app[keys.CUSTOM_METRICS] = CustomMetrics(registry, clock, lambda: holder.current.monitoring.custom_metrics)
    app[keys.PROBE_RESULTS] = ProbeCollector()
    registry.register(app[keys.PROBE_RESULTS])


async def _monitoring_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process evaluator and the self-probe, each on its own interval from monitoring.yml."""
    holder = app[keys.CONFIG]
    engine = AlertEngine(app[keys.REGISTRY], app[keys.CLOCK], lambda: holder.current.monitoring, app[keys.STORE])
    app[keys.ALERTING] = engine
    session = aiohttp.ClientSession()
    probes = ProbeRunner(build_probes(app[keys.SETTINGS], holder.current.monitoring.probes, session),
                         app[keys.PROBE_RESULTS])
    app[keys.PROBES] = probes
    await engine.tick()  # the window starts now; the first probe runs one interval after start

    async def evaluate() -> None:
        await engine.tick()
        app[keys.CUSTOM_METRICS].prune()

    tasks = [
        asyncio.create_task(_every(lambda: holder.current.monitoring.evaluation_interval_ms, evaluate), name="alerts"),
        asyncio.create_task(_every(lambda: holder.current.monitoring.probes.interval_ms, probes.run_once),
                            name="probes"),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    await session.close()


async def _every(interval_ms: Callable[[], int], work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work`` every interval (re-read each time, so a reload applies); an error never stops the loop."""
    while True:
        await asyncio.sleep(interval_ms() / 1000)
        try:
            await work()
        except Exception:
            log.exception("background monitoring work failed; retrying at the next interval")


def _store_ctx(injected: Store | None):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = injected if injected is not None else await open_store(app[keys.SETTINGS].database_url)
        app[keys.STORE] = store
        yield
        if injected is None:
            await store.close()

    return ctx


async def _usage_ctx(app: web.Application) -> AsyncIterator[None]:
    store, clock = app[keys.STORE], app[keys.CLOCK]
    keyring = KeyRing(store, clock)
    usage = UsageTracker(store, clock)
    await keyring.refresh()
    await usage.load()
    app[keys.KEYRING] = keyring
    app[keys.USAGE] = usage
    app[keys.QUOTA] = QuotaEnforcer(usage, clock)
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


async def _sighup_ctx(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    def on_sighup() -> None:
        task = asyncio.create_task(app[keys.CONFIG].reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    yield
    loop.remove_signal_handler(signal.SIGHUP)
