"""The composition root: ``create_app`` builds the web.Application and is the only place that
wires parts together: state, the request pipeline and its routes, and which lifetimes
(``lifetimes.py``: what starts and stops with the app, in ``cleanup_ctx``) run in which order.
"""

from __future__ import annotations

import logging
import platform

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter import __version__
from exporter.alertmanager.webhook import NotificationLog
from exporter.app import lifetimes, runtime
from exporter.config import Config, ConfigHolder, load_config
from exporter.core.clock import Clock, SystemClock
from exporter.http import state as keys
from exporter.http.cors import Cors
from exporter.http.json import BodyCache, LatestBody
from exporter.http.openapi import build_spec
from exporter.http.pipeline import Pipeline
from exporter.http.routes import admin, alertmanager, audit, docs, monitoring, ofrep, status, tenant, testing
from exporter.http.routes import sla as sla_api
from exporter.http.server import ProtocolErrors
from exporter.monitoring.active_users import ActiveUsers
from exporter.settings import Settings
from exporter.sla.probes import ProbeCollector
from exporter.store import Store
from exporter.telemetry.custom import CustomMetrics
from exporter.telemetry.exposition import MetricsRenderer, metrics_handler
from exporter.telemetry.http_metrics import HttpMetrics
from exporter.telemetry.system import SystemCollector
from exporter.tenancy.metrics import UsageCollector

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

    app = web.Application(client_max_size=settings.max_body_bytes)
    http_metrics = HttpMetrics(registry, max_series=settings.metrics_max_series) if settings.metrics_enabled else None
    cors = Cors(settings.cors_origins) if settings.cors_origins else None
    pipeline = app[keys.PIPELINE] = Pipeline(app, lambda: app[keys.ACCESS], http_metrics,
                                             exclude=settings.metrics_exclude_paths, cors=cors)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock
    app[keys.REGISTRY] = registry
    app[keys.CONFIG] = ConfigHolder(settings, config, registry=registry, clock=clock)
    app[keys.BODIES] = BodyCache()
    app[keys.STATUS_BODY] = LatestBody()
    app[keys.PROTOCOL_ERRORS] = ProtocolErrors(registry, clock)
    _register_collectors(app, registry)
    _monitoring_state(app)

    app.cleanup_ctx.append(lifetimes.store_ctx(store))
    app.cleanup_ctx.append(lifetimes.audit_ctx)
    app.cleanup_ctx.append(lifetimes.usage_ctx)
    app.cleanup_ctx.append(lifetimes.resources_ctx)
    app.cleanup_ctx.append(lifetimes.metrics_ctx)
    app.cleanup_ctx.append(lifetimes.http_ctx)
    app.cleanup_ctx.append(lifetimes.sla_ctx)
    app.cleanup_ctx.append(lifetimes.monitoring_ctx)  # after resources: the first evaluation sees CPU and memory
    app.cleanup_ctx.append(lifetimes.alertmanager_ctx)  # after monitoring (the evaluator) and audit
    if handle_signals:
        app.cleanup_ctx.append(lifetimes.sighup_ctx)
    if tune_runtime:
        runtime.tune_process()
        app.on_startup.append(runtime.freeze_heap)

    for routes in (admin.routes, tenant.routes, ofrep.routes, audit.routes, monitoring.routes, sla_api.routes,
                   status.routes, alertmanager.routes, docs.routes):
        pipeline.add_routes(routes)
    if settings.enable_test_routes:
        pipeline.add_routes(testing.routes)
    if settings.metrics_port is None:
        pipeline.add_routes([web.get("/metrics", metrics_handler(app[keys.RENDERER], settings.metrics_token))])
    pipeline.add_unmatched()  # last: what no route above takes
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


def _monitoring_state(app: web.Application) -> None:
    """Custom metrics, probe results and the active-user hook exist from the start (no background work)."""
    registry, clock, holder = app[keys.REGISTRY], app[keys.CLOCK], app[keys.CONFIG]
    app[keys.ACTIVE_USERS] = ActiveUsers(clock)
    app[keys.CUSTOM_METRICS] = CustomMetrics(registry, clock, lambda: holder.current.monitoring.custom_metrics)
    app[keys.PROBE_RESULTS] = ProbeCollector()
    registry.register(app[keys.PROBE_RESULTS])
    app[keys.NOTIFICATIONS] = NotificationLog(registry, app[keys.SETTINGS].alertmanager_webhook_history)


