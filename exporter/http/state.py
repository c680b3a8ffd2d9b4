"""Typed application state: every ``web.AppKey`` the app uses, in one place."""

from __future__ import annotations

from typing import Final

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.alertmanager.forwarder import AlertForwarder
from exporter.alertmanager.silences import SilenceSync
from exporter.alertmanager.webhook import NotificationLog
from exporter.audit.recorder import AuditLog, AuthFailureSampler
from exporter.audit.retention import AuditMaintenance
from exporter.auth.keyring import KeyRing
from exporter.config import ConfigHolder
from exporter.core.clock import Clock
from exporter.http.access import Access
from exporter.http.json import BodyCache, LatestBody
from exporter.http.pipeline import Pipeline
from exporter.http.server import ProtocolErrors
from exporter.monitoring.active_users import ActiveUsers
from exporter.monitoring.engine import AlertEngine
from exporter.settings import Settings
from exporter.sla.probes import ProbeCollector, ProbeRunner
from exporter.sla.tracker import SlaTracker
from exporter.store import Store
from exporter.telemetry.custom import CustomMetrics
from exporter.telemetry.custom_audit import SubmissionDigest
from exporter.telemetry.exposition import MetricsRenderer
from exporter.telemetry.system import SystemCollector
from exporter.tenancy.metrics import UsageCollector
from exporter.tenancy.quota import QuotaEnforcer
from exporter.tenancy.usage import UsageTracker

SETTINGS: Final = web.AppKey("settings", Settings)
CLOCK: Final = web.AppKey("clock", Clock)
REGISTRY: Final = web.AppKey("registry", CollectorRegistry)
CONFIG: Final = web.AppKey("config", ConfigHolder)
STORE: Final = web.AppKey("store", Store)
KEYRING: Final = web.AppKey("keyring", KeyRing)
USAGE: Final = web.AppKey("usage", UsageTracker)
QUOTA: Final = web.AppKey("quota", QuotaEnforcer)
ACCESS: Final = web.AppKey("access", Access)  # the request pipeline's auth, quota and role step
PIPELINE: Final = web.AppKey("pipeline", Pipeline)  # routes added after create_app go through it too
SYSTEM: Final = web.AppKey("system", SystemCollector)
USAGE_METRICS: Final = web.AppKey("usage_metrics", UsageCollector)
RENDERER: Final = web.AppKey("renderer", MetricsRenderer)
AUDIT: Final = web.AppKey("audit", AuditLog)
AUTH_FAILURES: Final = web.AppKey("auth_failures", AuthFailureSampler)
AUDIT_MAINTENANCE: Final = web.AppKey("audit_maintenance", AuditMaintenance)
BODIES: Final = web.AppKey("bodies", BodyCache)
ALERTING: Final = web.AppKey("alerting", AlertEngine)
ACTIVE_USERS: Final = web.AppKey("active_users", ActiveUsers)
CUSTOM_METRICS: Final = web.AppKey("custom_metrics", CustomMetrics)
PROBE_RESULTS: Final = web.AppKey("probe_results", ProbeCollector)
PROBES: Final = web.AppKey("probes", ProbeRunner)
CUSTOM_DIGEST: Final = web.AppKey("custom_digest", SubmissionDigest)
NOTIFICATIONS: Final = web.AppKey("alertmanager_notifications", NotificationLog)
SLA: Final = web.AppKey("sla", SlaTracker)
HTTP: Final = web.AppKey("http", aiohttp.ClientSession)  # outgoing HTTP: probes, Prometheus
STATUS_BODY: Final = web.AppKey("status_body", LatestBody)  # the public status page, encoded once per change
# what aiohttp cannot parse, counted and logged by every listener's runner (http_server.py)
PROTOCOL_ERRORS: Final = web.AppKey("protocol_errors", ProtocolErrors)
# only with ALERTMANAGER_URL set
ALERT_FORWARDER: Final = web.AppKey("alert_forwarder", AlertForwarder)
SILENCES: Final = web.AppKey("silences", SilenceSync)
