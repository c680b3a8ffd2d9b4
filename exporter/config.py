"""Everything read from ``CONFIG_DIR``, loaded together, swapped together on reload.

Reload is Prometheus-like: SIGHUP or ``POST /-/reload``. A bad file keeps the old config,
logs why, and sets ``tenant_exporter_config_last_reload_successful`` to 0.

With several replicas (``share_reloads``), a reload on one is a reload on all: the replica that
was asked reloads, records it in the audit log, then publishes it (``pass_on``, through
``store/change_feed.py``), and every other replica reloads its own ``CONFIG_DIR`` at its next
poll. Each validates what it reads: a bad file is refused by every replica, each keeping the
version it runs. The fleet's count of reloads, ``tenant_exporter_config_reload_generation``, is
the same on every replica that has caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final

from prometheus_client import CollectorRegistry, Gauge

from exporter.core.clock import Clock, isoformat
from exporter.core.errors import ConfigError, ConfigIssue
from exporter.core.threads import in_thread
from exporter.monitoring.config import MonitoringConfig, load_monitoring
from exporter.settings import Settings
from exporter.store.change_feed import ChangeFeed
from exporter.store.records import FleetChange
from exporter.tenancy.catalog import Catalog
from exporter.tenancy.loader import load_catalog

log = logging.getLogger(__name__)

TOPIC: Final = "config"  # the reloads, in the fleet's change feed


@dataclass(frozen=True, slots=True)
class Config:
    catalog: Catalog
    monitoring: MonitoringConfig

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.catalog.files, self.monitoring.file)

    @property
    def version(self) -> str:
        """Changes when any file changes (the catalog's own version covers only plans/tenants/regions)."""
        return f"{self.catalog.version}-{self.monitoring.digest[:8]}"


def load_config(settings: Settings) -> Config:
    """Read and validate every config file; raise ConfigError listing each problem found."""
    issues: list[ConfigIssue] = []
    catalog: Catalog | None = None
    monitoring: MonitoringConfig | None = None
    try:
        catalog = load_catalog(settings.config_dir, settings.default_tenant)
    except ConfigError as e:
        issues.extend(e.issues)
    try:
        monitoring = load_monitoring(settings.config_dir)
    except ConfigError as e:
        issues.extend(e.issues)
    if catalog is None or monitoring is None:
        raise ConfigError(issues)
    return Config(catalog=catalog, monitoring=monitoring)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    files: tuple[str, ...]
    errors: tuple[str, ...]
    version: str
    generation: int | None = None  # the fleet's reload this was, once published (None: not passed on)


class ConfigHolder:
    """The current Config; ``reload()`` swaps it atomically or keeps the old one."""

    def __init__(
        self, settings: Settings, initial: Config, *, registry: CollectorRegistry, clock: Clock,
        merge: Callable[[Catalog], Awaitable[Catalog]] | None = None,
    ) -> None:
        """``merge`` completes a catalog just read from the files (with the tenants provisioned over the
        API) before it is swapped in; it raises ConfigError to keep the old one."""
        self._settings = settings
        self._clock = clock
        self._merge = merge
        self.current = initial
        self.ok = True  # whether the last reload attempt succeeded
        self.loaded_at = clock.now()  # when the config in force was read
        self._listeners: list[Callable[[Config], None]] = []
        self._lock = asyncio.Lock()
        self._feed: ChangeFeed | None = None
        self._ok = Gauge(
            "tenant_exporter_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=registry,
        )
        self._when = Gauge(
            "tenant_exporter_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=registry,
        )
        self._info = Gauge(
            "tenant_exporter_config_info",
            "The loaded configuration's content hash (value is always 1).",
            ["version"],
            registry=registry,
        )
        Gauge("tenant_exporter_config_reload_generation",
              "The fleet's configuration reloads this replica has applied (the same on every replica that has "
              "caught up; 0 before the first).", registry=registry).set_function(lambda: self.generation)
        self._mark(ok=True)

    @property
    def generation(self) -> int:
        return self._feed.seen(TOPIC) if self._feed is not None else 0

    def share_reloads(self, feed: ChangeFeed) -> None:
        """Pass each reload on to the other replicas, and apply each of theirs."""
        self._feed = feed
        feed.subscribe(TOPIC, self._follow)

    async def _follow(self, change: FleetChange) -> None:
        result = await self.reload()
        log.info("config reload %d, asked on %s at %s: %s", change.generation, change.origin,
                 isoformat(change.changed_at),
                 f"version {result.version}" if result.ok else f"refused, keeping version {result.version}")

    def on_reload(self, listener: Callable[[Config], None]) -> None:
        self._listeners.append(listener)

    async def pass_on(self, result: ReloadResult) -> ReloadResult:
        """Ask every other replica to make the reload this replica just made (each checks its own files); the
        result with the fleet's generation of the reload, once it is told (the database may be away)."""
        change = None if self._feed is None else await self._feed.publish(TOPIC, result.version)
        return result if change is None else replace(result, generation=change.generation)

    async def reload(self) -> ReloadResult:
        """Reload this replica's files (``pass_on`` then tells the others)."""
        async with self._lock:
            try:
                config = await in_thread(load_config, self._settings)
                if self._merge is not None:
                    config = replace(config, catalog=await self._merge(config.catalog))
            except ConfigError as e:
                self.ok = False
                self._ok.set(0)
                errors = tuple(str(issue) for issue in e.issues)
                log.error("config reload failed, keeping version %s:\n  %s",
                          self.current.version, "\n  ".join(errors))
                return ReloadResult(False, self.current.files, errors, self.current.version)
            self.current = config
            for listener in self._listeners:
                listener(config)
            self._mark(ok=True)
            log.info("config reloaded: version %s", config.version)
            return ReloadResult(True, config.files, (), config.version)

    def _mark(self, *, ok: bool) -> None:
        self.ok = ok
        self._ok.set(1 if ok else 0)
        if ok:
            self.loaded_at = self._clock.now()
            self._when.set(self.loaded_at)
            self._info.clear()
            self._info.labels(self.current.version).set(1)
