"""Every part of the running service, built once, without I/O: ``build_services`` is the only place that
decides who gets what. Connecting, loading and background work start later (``lifetimes.py``).

Whatever exports metrics takes the registry and registers itself; nothing registers it afterwards.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Final

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
from exporter.alertmanager.client import AlertmanagerClient
from exporter.alertmanager.forwarder import AlertForwarder
from exporter.alertmanager.silences import SilenceSync
from exporter.alertmanager.webhook import NotificationLog
from exporter.app.metrics_views import tenant_families, views
from exporter.audit.recorder import AuditLog, AuthFailureSampler
from exporter.audit.retention import AuditMaintenance
from exporter.auth.authenticator import Authenticator
from exporter.auth.keyring import KeyRing
from exporter.config import Config, ConfigHolder
from exporter.core.clock import Clock
from exporter.http.access import Access
from exporter.http.auditing import Auditing
from exporter.http.client import AiohttpClient
from exporter.http.cors import Cors
from exporter.http.json import BodyCache
from exporter.http.server import ProtocolErrors
from exporter.monitoring.active_users import ActiveUsers
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.fleet_engine import FleetEngine
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.provisioning.tenants import TenantAdmin
from exporter.settings import Settings
from exporter.sla.checks import build_check
from exporter.sla.incidents import Incidents
from exporter.sla.probes import ProbeCollector, ProbeRunner
from exporter.sla.request_slos import RequestSloTracker
from exporter.sla.sources import IncidentSources
from exporter.sla.tracker import SlaTracker
from exporter.store import Store, store_for
from exporter.store.change_feed import ChangeFeed
from exporter.telemetry.custom import CustomMetrics
from exporter.telemetry.custom_audit import SubmissionDigest
from exporter.telemetry.custom_sync import CustomMetricsSync
from exporter.telemetry.exposition import MetricsRenderer, View
from exporter.telemetry.http_metrics import HttpMetrics
from exporter.telemetry.system import LoopLagMonitor, SystemCollector
from exporter.tenancy.directory import TenantDirectory
from exporter.tenancy.limit_sync import LimitSync
from exporter.tenancy.metrics import QuotaSeries
from exporter.tenancy.quota import QuotaEnforcer
from exporter.tenancy.redis_gcra import RedisGcra
from exporter.tenancy.shared_limits import SharedLimits
from exporter.tenancy.sync import TenantSync
from exporter.tenancy.usage import UsageTracker


@dataclass(frozen=True, slots=True, kw_only=True)
class Alertmanager:
    """With ``ALERTMANAGER_URL``: in-process alerts go there, acknowledgements become silences."""

    forwarder: AlertForwarder
    silences: SilenceSync


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    clock: Clock
    registry: CollectorRegistry
    config: ConfigHolder
    store: Store
    fleet: ChangeFeed  # changes made on one replica that every replica applies (config reloads)
    store_injected: bool  # a store the caller opened (tests): started and closed by the caller
    outbound: AiohttpClient
    # tenants, keys, quotas
    tenants: TenantDirectory
    tenant_sync: TenantSync
    tenant_admin: TenantAdmin
    keyring: KeyRing
    usage: UsageTracker
    quota: QuotaEnforcer
    rate_sync: LimitSync | None  # REDIS_URL: the per-second limits shared by every replica
    usage_metrics: QuotaSeries
    active_users: ActiveUsers
    # audit
    audit: AuditLog
    auth_failures: AuthFailureSampler
    audit_maintenance: AuditMaintenance
    auditing: Auditing
    custom_digest: SubmissionDigest
    # monitoring, SLA, Alertmanager
    alerting: AlertEngine
    probe_results: ProbeCollector
    probes: ProbeRunner
    sla: SlaTracker
    request_slos: RequestSloTracker
    maintenance: MaintenanceSchedule
    incidents: Incidents
    notifications: NotificationLog
    alertmanager: Alertmanager | None
    # telemetry
    system: SystemCollector
    loop_lag: LoopLagMonitor
    custom_metrics: CustomMetrics
    custom_sync: CustomMetricsSync  # the series shared by every replica and kept across restarts
    renderer: MetricsRenderer
    metrics_views: tuple[View, ...]  # /metrics, and TENANT_METRICS_PATH's
    http_metrics: HttpMetrics | None
    protocol_errors: ProtocolErrors
    # the HTTP edge
    access: Access
    bodies: BodyCache
    cors: Cors | None


SERVICES: Final = web.AppKey("services", Services)


def build_services(settings: Settings, registry: CollectorRegistry, clock: Clock, config: Config,
                   store: Store | None) -> Services:
    """Every part, wired to the parts it needs (no I/O: see ``lifetimes.py`` for what starts when)."""
    _process_metrics(registry)
    families = tenant_families(settings)
    quota_series = QuotaSeries()
    tenants = TenantDirectory(config.catalog, registry)
    tenants.on_change(quota_series.mark)
    holder = ConfigHolder(settings, config, registry=registry, clock=clock, merge=tenants.merge)
    monitoring = lambda: holder.current.monitoring  # noqa: E731 - each reads the config in force
    catalog = lambda: holder.current.catalog  # noqa: E731
    the_store = store if store is not None else store_for(settings.database_url, wait=settings.store_timeout)
    fleet = ChangeFeed(the_store, clock, settings.replica)
    holder.share_reloads(fleet)
    outbound = AiohttpClient()

    keyring, usage = KeyRing(the_store, clock), UsageTracker(the_store, clock)
    rate_sync = _shared_limits(settings, registry, clock)
    quota = QuotaEnforcer(usage, clock, rate_sync.limits if rate_sync is not None else None)
    active_users = ActiveUsers(clock)
    audit = AuditLog(the_store, clock, registry)
    auth_failures = AuthFailureSampler(audit, clock, registry)
    auditing = Auditing(audit, auth_failures)

    instance = settings.replica
    probe_results = ProbeCollector(registry)
    # on PostgreSQL, replicas share the store: one of them evaluates the rules for all (monitoring/fleet.py)
    alerting: AlertEngine
    if the_store.backend == "postgres":
        alerting = FleetEngine(registry, clock, monitoring, the_store, instance=instance,
                               outage_tolerance=settings.alert_outage_tolerance, probes=lambda: probe_results.latest,
                               recent_keys=active_users.take_recent)
    else:
        alerting = AlertEngine(registry, clock, monitoring, the_store, instance=instance,
                               outage_tolerance=settings.alert_outage_tolerance, probes=lambda: probe_results.latest)
    maintenance = MaintenanceSchedule(the_store, clock, lambda: holder.current.monitoring.maintenance)
    sla = SlaTracker(the_store, clock, monitoring, instance, flush_interval=settings.sla_flush_interval,
                     registry=registry, maintenance=maintenance)
    incidents = Incidents(the_store, clock, IncidentSources(alerting, sla, monitoring), maintenance,
                          interval=lambda: holder.current.monitoring.evaluation_interval_ms / 1000,
                          forget_after=settings.alert_outage_tolerance)
    probe_results.ensure(s.name for s in config.monitoring.services)
    holder.on_reload(lambda new: probe_results.ensure(s.name for s in new.monitoring.services))
    custom_limits = lambda: holder.current.monitoring.custom_metrics  # noqa: E731
    custom = CustomMetrics(registry, clock, custom_limits)
    probes = ProbeRunner(lambda: holder.current.monitoring.services,
                         lambda service: build_check(service, settings, outbound, the_store),
                         clock, [probe_results.record, sla.record], at_start=settings.probe_at_start)
    return Services(
        settings=settings, clock=clock, registry=registry, config=holder, store=the_store, fleet=fleet,
        store_injected=store is not None, outbound=outbound,
        tenants=tenants, tenant_sync=TenantSync(the_store, tenants, registry),
        tenant_admin=TenantAdmin(the_store, tenants, keyring, audit, clock),
        keyring=keyring, usage=usage, quota=quota, rate_sync=rate_sync, usage_metrics=quota_series,
        active_users=active_users,
        audit=audit, auth_failures=auth_failures, auditing=auditing,
        audit_maintenance=AuditMaintenance(the_store, clock, registry, settings, catalog, families.audit),
        custom_digest=SubmissionDigest(audit, clock),
        alerting=alerting, probe_results=probe_results, probes=probes, sla=sla,
        request_slos=RequestSloTracker(registry, the_store, clock, monitoring, instance,
                                       flush_interval=settings.sla_flush_interval, maintenance=maintenance),
        maintenance=maintenance, incidents=incidents,
        notifications=NotificationLog(registry, the_store, settings.alertmanager_webhook_history),
        alertmanager=_alertmanager(settings, registry, clock, outbound, the_store, alerting, audit, maintenance),
        system=SystemCollector(registry), loop_lag=LoopLagMonitor(registry, settings.loop_lag_interval),
        custom_metrics=custom, custom_sync=CustomMetricsSync(the_store, custom, clock, custom_limits,
                                                             margin=settings.store_timeout),
        renderer=MetricsRenderer(registry), metrics_views=views(settings, families, quota_series),
        http_metrics=HttpMetrics(registry, max_series=settings.metrics_max_series) if settings.metrics_enabled
        else None,
        protocol_errors=ProtocolErrors(registry, clock),
        access=Access(Authenticator(keyring), quota, holder, active_users, auditing),
        bodies=BodyCache(), cors=Cors(settings.cors_origins) if settings.cors_origins else None,
    )


def _shared_limits(settings: Settings, registry: CollectorRegistry, clock: Clock) -> LimitSync | None:
    """With ``REDIS_URL``: the per-second limits counted for the whole fleet in Redis (no connection yet)."""
    if settings.redis_url is None:
        return None
    redis = RedisGcra(settings.redis_url, prefix=settings.redis_key_prefix, replica=settings.replica,
                      timeout=settings.redis_timeout, stale=max(3.0, 20 * settings.rate_limit_sync_interval))
    return LimitSync(SharedLimits(), redis, clock, registry, timeout=settings.redis_timeout)


def _alertmanager(settings: Settings, registry: CollectorRegistry, clock: Clock, outbound: AiohttpClient,
                  store: Store, engine: AlertEngine, audit: AuditLog,
                  maintenance: MaintenanceSchedule) -> Alertmanager | None:
    if settings.alertmanager_url is None:
        return None
    client = AlertmanagerClient(settings.alertmanager_url, outbound, registry, settings.alertmanager_timeout)
    silences = SilenceSync(client, store, engine, clock, audit, duration=settings.alertmanager_silence_duration,
                           interval=settings.alertmanager_sync_interval)
    engine.on_acknowledge.append(silences.wake)
    forwarder = AlertForwarder(client, engine, clock, registry, resend_interval=settings.alertmanager_resend_interval,
                               generator_url=f"{settings.public_url}/api/monitoring/alerts",
                               held=lambda alert: maintenance.silencing(alert) is not None)
    return Alertmanager(forwarder=forwarder, silences=silences)


def _process_metrics(registry: CollectorRegistry) -> None:
    """prometheus_client's process, platform and GC collectors, and the build info."""
    # `_created` samples double every counter and histogram in the text format, and Prometheus
    # stores them as separate gauges; like the Go client, leave them out.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    build = Gauge("tenant_exporter_build_info", "Version of tenant-exporter and of Python (value is always 1).",
                  ["version", "python_version"], registry=registry)
    build.labels(__version__, platform.python_version()).set(1)
