"""Replicas see each other's tenant changes within ``TENANT_SYNC_INTERVAL`` seconds.

Every change bumps a named revision counter in the store in the same transaction (``store/tenants_sql.py``),
so a replica only has to read one small row per interval; when it moved, it fetches the rows changed
after the revision it has, in pages, and applies them. ``RevisionFeed`` is that mechanism on its own (a
named counter watched on an interval), for other shared state to use the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter

from exporter.core.polling import poll_forever
from exporter.store import Store
from exporter.store.tenants_sql import TENANTS
from exporter.tenancy.directory import TenantDirectory

PAGE = 2000


class RevisionFeed:
    """Calls ``catch_up(revision)`` whenever the store's counter ``name`` is past ``seen()``."""

    def __init__(self, store: Store, name: str, seen: Callable[[], int],
                 catch_up: Callable[[int], Awaitable[object]], failures: Counter) -> None:
        self._store, self._name, self._seen, self._catch_up, self._failures = store, name, seen, catch_up, failures

    async def poll(self) -> bool:
        """One look at the counter (and a catch-up when it moved); True when there was something new."""
        revision = await self._store.revision(self._name)
        if revision <= self._seen():
            return False
        await self._catch_up(revision)
        return True

    async def run_forever(self, interval: float) -> None:
        await poll_forever(self.poll, interval, f"{self._name} changes", self._failures.inc)


class TenantSync:
    """Keeps a ``TenantDirectory`` up to date with the tenants table."""

    def __init__(self, store: Store, directory: TenantDirectory, registry: CollectorRegistry) -> None:
        self._store = store
        self._directory = directory
        failures = Counter("tenant_exporter_tenant_sync_failures",
                           "Polls for tenant changes that failed (the store did not answer).", registry=registry)
        self.feed = RevisionFeed(store, TENANTS, lambda: directory.revision, self.catch_up, failures)

    async def catch_up(self, upto: int | None = None) -> int:
        """Apply every row changed since the directory's revision (all of them at start); return how many."""
        applied = 0
        while upto is None or self._directory.revision < upto:
            rows = await self._store.tenants_since(self._directory.revision, limit=PAGE)
            if not rows:
                break
            await self._directory.apply(rows)
            applied += len(rows)
            if len(rows) < PAGE:
                break
        return applied
