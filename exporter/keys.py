"""Typed application state: every ``web.AppKey`` the app uses, in one place."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.active_users import ActiveUsers
from exporter.alerting import AlertEngine
from exporter.auth import KeyRing
from exporter.clock import Clock
from exporter.config import ConfigHolder
from exporter.custom_metrics import CustomMetrics
from exporter.probes import ProbeCollector, ProbeRunner
from exporter.quota import QuotaEnforcer
from exporter.settings import Settings
from exporter.store import Store
from exporter.usage import UsageTracker

SETTINGS: Final = web.AppKey("settings", Settings)
CLOCK: Final = web.AppKey("clock", Clock)
REGISTRY: Final = web.AppKey("registry", CollectorRegistry)
CONFIG: Final = web.AppKey("config", ConfigHolder)
STORE: Final = web.AppKey("store", Store)
KEYRING: Final = web.AppKey("keyring", KeyRing)
USAGE: Final = web.AppKey("usage", UsageTracker)
QUOTA: Final = web.AppKey("quota", QuotaEnforcer)
ALERTING: Final = web.AppKey("alerting", AlertEngine)
ACTIVE_USERS: Final = web.AppKey("active_users", ActiveUsers)
CUSTOM_METRICS: Final = web.AppKey("custom_metrics", CustomMetrics)
PROBE_RESULTS: Final = web.AppKey("probe_results", ProbeCollector)
PROBES: Final = web.AppKey("probes", ProbeRunner)
