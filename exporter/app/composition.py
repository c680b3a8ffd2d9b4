"""``create_app``: the service's parts (``services.py``), its routes behind the request pipeline, and its one
lifetime (``lifetimes.py``), put together into a ``web.Application``. Nothing else wires parts together.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.app import runtime
from exporter.app.lifetimes import lifetime
from exporter.app.services import SERVICES, Services, build_services
from exporter.config import Config, load_config
from exporter.core.clock import Clock, SystemClock
from exporter.http.openapi import build_spec
from exporter.http.pipeline import Api, Pipeline
from exporter.http.routes.admin import OperationsApi
from exporter.http.routes.alertmanager import AlertmanagerApi
from exporter.http.routes.audit import AuditApi
from exporter.http.routes.docs import DocsApi
from exporter.http.routes.keys import KeysApi
from exporter.http.routes.maintenance import MaintenanceApi
from exporter.http.routes.metrics import MetricsApi
from exporter.http.routes.monitoring import MonitoringApi
from exporter.http.routes.ofrep import OfrepApi
from exporter.http.routes.provisioning import TenantsAdminApi
from exporter.http.routes.sla import SlaApi
from exporter.http.routes.status import StatusPageApi
from exporter.http.routes.tenant import TenantApi
from exporter.http.routes.testing import TestingApi
from exporter.settings import Settings
from exporter.store import Store

PIPELINE: Final = web.AppKey("pipeline", Pipeline)  # routes added after create_app go through it too


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
    services = build_services(settings, registry if registry is not None else CollectorRegistry(),
                              clock if clock is not None else SystemClock(),
                              config if config is not None else load_config(settings), store)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    docs = _add_routes(app, services)
    app.cleanup_ctx.append(lifetime(services, handle_signals=handle_signals))
    if tune_runtime:
        runtime.tune_process()
        app.on_startup.append(runtime.freeze_heap)
        refreeze = runtime.Refreeze()
        services.config.on_reload(refreeze.reloaded)
        services.tenants.on_change(refreeze.tenants_changed)

    async def describe(app: web.Application) -> None:
        """Build the OpenAPI description once; a route without one stops the start here."""
        settings = services.settings
        docs.spec = build_spec(app, server_url=settings.public_url if settings.public_base_url else "/")

    app.on_startup.append(describe)
    return app


def _add_routes(app: web.Application, s: Services) -> DocsApi:
    pipeline = app[PIPELINE] = Pipeline(app, s.access, s.http_metrics, exclude=s.settings.metrics_exclude_paths,
                                        cors=s.cors)
    sla = SlaApi(s.sla, s.request_slos, s.alerting, s.config, s.clock, s.outbound, s.settings.prometheus_url,
                 s.settings.public_base_url, incidents=s.incidents, maintenance=s.maintenance)
    docs = DocsApi()
    apis: list[Api] = [
        OperationsApi(s.store, s.config, s.auditing),
        TenantApi(s.config, s.usage, s.bodies, s.auditing),
        TenantsAdminApi(s.tenant_admin),
        KeysApi(s.store, s.config, s.clock, s.keyring, s.audit),
        OfrepApi(s.settings.key_refresh_interval),
        AuditApi(s.store, s.tenants, s.clock, s.auditing, s.settings.audit_checkpoint_key),
        MonitoringApi(s.alerting, s.config, s.clock, s.active_users, s.custom_metrics,
                      s.custom_digest, s.auditing, s.maintenance),
        sla,
        MaintenanceApi(s.maintenance, s.config, s.clock, s.auditing),
        StatusPageApi(sla.current_status),
        AlertmanagerApi(s.notifications, s.clock, s.settings.alertmanager_webhook_token),
        docs,
    ]
    if s.settings.enable_test_routes:
        apis.append(TestingApi())
    if s.settings.metrics_port is None:
        apis.append(MetricsApi(s.renderer, s.settings.metrics_token, s.metrics_views))
    for api in apis:
        pipeline.add_routes(api.routes())
    pipeline.add_unmatched()  # last: what no route above takes
    return docs
