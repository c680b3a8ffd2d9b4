"""The Store protocol: everything the service keeps durably, behind one narrow interface.

One implementation per backend (``sqlite.py``, ``postgres.py``); the same contract tests run
against both. Times are Unix seconds (floats); the API layer formats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from exporter.store.alerts_sql import AlertStore
from exporter.store.audit_sql import AuditStore
from exporter.store.fleet_sql import FleetStore
from exporter.store.incidents_sql import IncidentStore
from exporter.store.monitoring_sql import MonitoringStore
from exporter.store.records import ApiKeyRecord
from exporter.store.shared_sql import SharedStore
from exporter.store.sla_sql import SlaStore
from exporter.store.slo_sql import SloStore
from exporter.store.tenants_sql import TenantStore


class Store(AuditStore, AlertStore, IncidentStore, MonitoringStore, SlaStore, SloStore, FleetStore, SharedStore,
            TenantStore, Protocol):
    backend: str

    async def open(self) -> None:
        """Connect (StoreUnavailable when the database cannot be reached)."""
        ...

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        ...

    async def migrate_online(self) -> None:
        """The slow part of migrations, left to run in the background while the service serves:
        index builds that do not block writes, and filling a new index (safe to repeat)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        ...

    async def close(self) -> None: ...

    # API keys
    async def insert_api_key(self, record: ApiKeyRecord) -> None: ...

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        """Mark a key revoked (idempotent); None when no such key exists."""
        ...

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""
        ...

    async def api_keys_page(self, *, tenant_id: str | None, after: str | None, limit: int,
                            include_revoked: bool) -> list[ApiKeyRecord]:
        """Keys in id order after ``after``: one tenant's or (None) every tenant's."""
        ...

    async def find_api_key(self, token_hash: str) -> ApiKeyRecord | None:
        """The active key with this token hash (an indexed lookup)."""
        ...

    async def touch_api_keys(self, last_used: Mapping[str, float]) -> None:
        """Record ``last_used_at`` for many keys at once."""
        ...

    # Usage
    async def add_api_calls(self, deltas: Mapping[tuple[str, str], int]) -> None:
        """Add ``{(month, tenant_id): delta}`` to the monthly counters, in one transaction."""
        ...

    async def api_calls(self, month: str, *, after: str = "", limit: int | None = None) -> dict[str, int]:
        """The month's counts per tenant (with ``limit``: the next ``limit`` tenants after ``after``, in order)."""
        ...

    async def reported_usage(self, *, after: str = "", limit: int | None = None) -> dict[str, dict[str, float]]:
        """The last reported value of each non-resetting usage field, per tenant (a page of tenants with ``limit``)."""
        ...

    async def set_reported_usage(self, tenant_id: str, values: Mapping[str, float], at: float) -> None: ...
