"""The composition root: ``create_app`` builds the web.Application and is the only place that
wires parts together (state, middlewares, routes, background work in ``cleanup_ctx``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import suppress

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter import keys
from exporter.api import admin, audit, ofrep, tenant
from exporter.api.access import access_middleware
from exporter.api.cors import cors_middleware
from exporter.api.problems import problems_middleware
from exporter.audit import Actor
from exporter.audit_actions import config_reload
from exporter.audit_recorder import AuditLog, AuthFailureSampler
from exporter.audit_retention import AuditMaintenance
from exporter.auth import KeyRing
from exporter.clock import Clock, SystemClock
from exporter.config import Config, ConfigHolder, load_config
from exporter.errors import StoreError
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

    app.cleanup_ctx.append(_store_ctx(store))
    app.cleanup_ctx.append(_audit_ctx)
    app.cleanup_ctx.append(_usage_ctx)
    if handle_signals:
        app.cleanup_ctx.append(_sighup_ctx)

    app.add_routes(admin.routes)
    app.add_routes(tenant.routes)
    app.add_routes(ofrep.routes)
    app.add_routes(audit.routes)
    return app


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
    audit_log.start()
    task = asyncio.create_task(maintenance.run_forever(), name="audit-maintenance")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
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
