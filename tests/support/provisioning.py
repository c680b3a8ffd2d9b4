"""Helpers for tests of tenants provisioned over the API: requests, and many rows written at once."""

from __future__ import annotations

from typing import Any

import msgspec

from exporter.store import Store
from exporter.tenancy.spec import TenantSpec
from tests.support.service import Service

ADMIN_TENANTS = "/api/admin/tenants"


def spec(tenant_id: str, **fields: Any) -> dict[str, Any]:
    """The body of a tenant to create: the standard plan in us-east unless ``fields`` say otherwise."""
    return {"id": tenant_id, "name": f"Tenant {tenant_id}", "plan": "standard", "region": "us-east", **fields}


async def create(service: Service, headers: dict[str, str], tenant_id: str, **fields: Any) -> dict[str, Any]:
    """POST a tenant and return the 201's body (fails the test on any other status)."""
    resp = await service.client.post(ADMIN_TENANTS, json=spec(tenant_id, **fields), headers=headers)
    body = await resp.json()
    assert 201 == resp.status, body
    return body


async def write_rows(store: Store, ids: list[str], *, plan: str = "standard", at: float = 1_795_000_000.0) -> None:
    """Many API tenants at once, straight into the tenants table (as many POSTs would leave it)."""
    [(revision,)] = await store.fetch("SELECT revision FROM revisions WHERE name = 'tenants'")
    rows = [(tenant_id, msgspec.json.encode(TenantSpec(tenant_id, f"Tenant {tenant_id}", plan, "us-east")).decode(),
             0, at, at, revision + i + 1) for i, tenant_id in enumerate(ids)]
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        await tx.executemany("INSERT INTO tenants (id, spec, disabled, created_at, updated_at, revision) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
        await tx.execute("UPDATE revisions SET revision = ? WHERE name = 'tenants'", revision + len(ids))
