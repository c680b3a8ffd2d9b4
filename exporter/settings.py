"""Environment -> frozen Settings. The only module that reads ``os.environ``.

Every knob has a default that works on a fresh machine: SQLite under ``./data/``,
the shipped ``./config`` directory, port 8000.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter.core.errors import SettingsError
from exporter.core.parsing import ascii_decimal, ascii_int

DEFAULT_DATABASE_URL = "sqlite:///data/tenant-exporter.db"
EVENT_LOOPS = ("uvloop", "asyncio")


@dataclass(frozen=True, slots=True)
class DefaultTenant:
    """The tenant the seed's ``TENANT_*`` variables describe (used when tenants.yml has none)."""

    id: str = "default-tenant"
    name: str = "Default Tenant"
    plan: str = "professional"
    region: str = "us-east"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104  (a service listens on all interfaces by default)
    port: int = 8000
    config_dir: Path = Path("config")
    database_url: str = DEFAULT_DATABASE_URL
    store_timeout: float = 5.0  # seconds one database operation may take, all of it, before it fails (503)
    default_tenant: DefaultTenant = field(default_factory=DefaultTenant)
    cors_origins: tuple[str, ...] = ()
    metrics_token: str | None = None
    metrics_port: int | None = None
    metrics_exclude_paths: tuple[str, ...] = ("/metrics",)
    metrics_enabled: bool = True
    metrics_max_series: int = 2000
    # per-tenant families: groups (quota: usage and limit per limit, 8 per tenant; audit: each chain's
    # checkpoint and oldest event) or family names; () for none. With a path, they are served there only.
    tenant_metrics: tuple[str, ...] = ("quota",)
    tenant_metrics_path: str | None = None
    system_sample_interval: float = 2.0
    loop_lag_interval: float = 0.1
    event_loop: str = "uvloop"  # or "asyncio"; uvloop is used where it is installed
    enable_test_routes: bool = False
    usage_flush_interval: float = 5.0
    key_refresh_interval: float = 10.0
    tenant_sync_interval: float = 1.0  # seconds between looks for tenants changed by other replicas
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    public_base_url: str | None = None
    # audit log: the checkpoint/anchor signing key is a secret kept outside the database
    audit_checkpoint_key: bytes | None = field(default=None, repr=False)
    audit_archive_dir: Path | None = None
    audit_checkpoint_interval: float = 60.0
    audit_retention_interval: float = 3600.0
    audit_digest_interval: float = 60.0
    audit_retention_batch: int = 1000
    audit_platform_retention_days: int = 365
    probe_api_url: str | None = None
    probe_at_start: bool = True  # probe each service once right after start (a result that stands for no time)
    # Alertmanager: where in-process alerts are posted and acknowledgements become silences (None: off)
    alertmanager_url: str | None = None
    alertmanager_resend_interval: float = 60.0
    alertmanager_sync_interval: float = 10.0
    alertmanager_timeout: float = 5.0
    alertmanager_silence_duration: float = 24 * 3600.0
    alertmanager_webhook_token: str | None = field(default=None, repr=False)
    alertmanager_webhook_history: int = 100
    prometheus_url: str | None = None  # for GET /api/monitoring/sla?source=prometheus
    sla_flush_interval: float = 5.0  # seconds between writes of batched probe results
    instance_id: str | None = None  # this replica's name in SLA records (default: host name and port)
    # Rate limits shared by every replica through Redis (None: each replica limits on its own)
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_key_prefix: str = "tenant-exporter:"
    redis_timeout: float = 0.25  # seconds a sync may take before this replica limits on its own (fail open)
    rate_limit_sync_interval: float = 0.05  # seconds between syncs of the shared rate limits
    fleet_poll_interval: float = 1.0  # seconds between checks for changes made on another replica (config reloads)
    alert_outage_tolerance: float = 3600.0  # seconds a stop may last and the alerts' state still be restored

    @property
    def listener_url(self) -> str:
        """``http://host:port`` of this process's listener (loopback when it listens on every interface)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)  # noqa: S104
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def replica(self) -> str:
        """This replica's name among the others: ``INSTANCE_ID``, else host name and port."""
        return self.instance_id or f"{socket.gethostname()}:{self.port}"

    @property
    def public_url(self) -> str:
        """Where people reach this service: ``PUBLIC_BASE_URL``, else the listener."""
        return self.public_base_url.rstrip("/") if self.public_base_url else self.listener_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if env is None else env
        base = cls()
        values: dict[str, Any] = {
            "host": env.get("HOST", base.host),
            "port": _int(env, "PORT", base.port),
            "config_dir": Path(env.get("CONFIG_DIR", str(base.config_dir))),
            "database_url": env.get("DATABASE_URL") or base.database_url,
            "store_timeout": _float(env, "STORE_TIMEOUT", base.store_timeout),
            "default_tenant": DefaultTenant(
                id=env.get("TENANT_ID", base.default_tenant.id),
                name=env.get("TENANT_NAME", base.default_tenant.name),
                plan=env.get("TENANT_PLAN", base.default_tenant.plan),
                region=env.get("TENANT_REGION", base.default_tenant.region),
            ),
            "cors_origins": _csv(env.get("CORS_ORIGINS", "")),
            "metrics_token": env.get("METRICS_TOKEN") or None,
            "metrics_port": _int(env, "METRICS_PORT", None),
            "metrics_exclude_paths": _csv(env.get("METRICS_EXCLUDE_PATHS", "/metrics")),
            "metrics_enabled": _bool(env, "METRICS_ENABLED", base.metrics_enabled),
            "metrics_max_series": _int(env, "METRICS_MAX_SERIES", base.metrics_max_series),
            "tenant_metrics": _tenant_metrics(env.get("TENANT_METRICS"), base.tenant_metrics),
            "tenant_metrics_path": _path(env, "TENANT_METRICS_PATH"),
            "system_sample_interval": _float(env, "SYSTEM_SAMPLE_INTERVAL", base.system_sample_interval),
            "loop_lag_interval": _float(env, "LOOP_LAG_INTERVAL", base.loop_lag_interval),
            "event_loop": _choice(env, "EVENT_LOOP", base.event_loop, EVENT_LOOPS),
            "enable_test_routes": _bool(env, "ENABLE_TEST_ROUTES", base.enable_test_routes),
            "usage_flush_interval": _float(env, "USAGE_FLUSH_INTERVAL", base.usage_flush_interval),
            "key_refresh_interval": _float(env, "KEY_REFRESH_INTERVAL", base.key_refresh_interval),
            "tenant_sync_interval": _float(env, "TENANT_SYNC_INTERVAL", base.tenant_sync_interval),
            "max_body_bytes": _int(env, "MAX_BODY_BYTES", base.max_body_bytes),
            "log_level": env.get("LOG_LEVEL", base.log_level).upper(),
            "public_base_url": env.get("PUBLIC_BASE_URL") or None,
            "audit_checkpoint_key": _secret(env, "AUDIT_CHECKPOINT_KEY"),
            "audit_archive_dir": Path(env["AUDIT_ARCHIVE_DIR"]) if env.get("AUDIT_ARCHIVE_DIR") else None,
            "audit_checkpoint_interval": _float(env, "AUDIT_CHECKPOINT_INTERVAL", base.audit_checkpoint_interval),
            "audit_retention_interval": _float(env, "AUDIT_RETENTION_INTERVAL", base.audit_retention_interval),
            "audit_digest_interval": _float(env, "AUDIT_DIGEST_INTERVAL", base.audit_digest_interval),
            "audit_retention_batch": _positive_int(env, "AUDIT_RETENTION_BATCH", base.audit_retention_batch),
            "audit_platform_retention_days": _positive_int(
                env, "AUDIT_PLATFORM_RETENTION_DAYS", base.audit_platform_retention_days, allow_zero=True
            ),
            "probe_api_url": env.get("PROBE_API_URL") or None,
            "probe_at_start": _bool(env, "PROBE_AT_START", base.probe_at_start),
            "alertmanager_url": _http_url(env, "ALERTMANAGER_URL"),
            "alertmanager_resend_interval": _float(env, "ALERTMANAGER_RESEND_INTERVAL",
                                                   base.alertmanager_resend_interval),
            "alertmanager_sync_interval": _float(env, "ALERTMANAGER_SYNC_INTERVAL", base.alertmanager_sync_interval),
            "alertmanager_timeout": _float(env, "ALERTMANAGER_TIMEOUT", base.alertmanager_timeout),
            "alertmanager_silence_duration": _float(env, "ALERTMANAGER_SILENCE_DURATION",
                                                    base.alertmanager_silence_duration),
            "alertmanager_webhook_token": env.get("ALERTMANAGER_WEBHOOK_TOKEN") or None,
            "alertmanager_webhook_history": _positive_int(env, "ALERTMANAGER_WEBHOOK_HISTORY",
                                                          base.alertmanager_webhook_history),
            "prometheus_url": _http_url(env, "PROMETHEUS_URL"),
            "sla_flush_interval": _float(env, "SLA_FLUSH_INTERVAL", base.sla_flush_interval),
            "instance_id": env.get("INSTANCE_ID") or None,
            "redis_url": _redis_url(env, "REDIS_URL"),
            "redis_key_prefix": env.get("REDIS_KEY_PREFIX") or base.redis_key_prefix,
            "redis_timeout": _float(env, "REDIS_TIMEOUT", base.redis_timeout),
            "rate_limit_sync_interval": _float(env, "RATE_LIMIT_SYNC_INTERVAL", base.rate_limit_sync_interval),
            "fleet_poll_interval": _float(env, "FLEET_POLL_INTERVAL", base.fleet_poll_interval),
            "alert_outage_tolerance": _float(env, "ALERT_OUTAGE_TOLERANCE", base.alert_outage_tolerance),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(base, **values)


def _tenant_metrics(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return default
    chosen = _csv(raw)
    return () if chosen in (("none",), ("off",)) else chosen


def _path(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith("/") or raw.rstrip("/") == "/metrics" or any(c in raw for c in " ?#%"):
        raise SettingsError(f"{name}={raw!r} must be a path such as /metrics/tenants (not /metrics itself)")
    return raw


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _http_url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) base URL without a trailing slash, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"{name}={raw!r} must be an http:// or https:// URL (e.g. http://prometheus:9090)")
    return raw.rstrip("/")


def _redis_url(env: Mapping[str, str], name: str) -> str | None:
    """A redis://, rediss:// or unix:// URL, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL (e.g. redis://127.0.0.1:6379/0)")
    return raw


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise SettingsError(f"{name}={env.get(name)!r}: expected one of {', '.join(choices)}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(env: Mapping[str, str], name: str, default: int | None) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_int(raw.strip())
    if value is None:
        raise SettingsError(f"{name}={raw!r} is not a whole number (ASCII digits)")
    return value


def _secret(env: Mapping[str, str], name: str) -> bytes | None:
    raw = env.get(name, "")
    if not raw:
        return None
    if len(raw) < 16:
        raise SettingsError(f"{name} must be at least 16 characters (use e.g. `openssl rand -hex 32`)")
    return raw.encode()


def _positive_int(env: Mapping[str, str], name: str, default: int, *, allow_zero: bool = False) -> int:
    value: int = _int(env, name, default)
    if value < 0 or (value == 0 and not allow_zero):
        raise SettingsError(f"{name}={value} must be {'zero or more' if allow_zero else 'positive'}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_decimal(raw.strip())
    if value is None:
        raise SettingsError(f"{name}={raw!r} is not a number (like 5 or 0.5)")
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be positive")
    return value
