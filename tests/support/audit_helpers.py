"""Helpers for the audit tests: events written straight to the store, reads over the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from exporter.audit.events import Actor, EventDraft, Target
from exporter.audit.recorder import append_events
from exporter.store import Store, open_store
from tests.support.service import Service


def usage_draft(tenant: str, i: int = 0, **overrides: Any) -> EventDraft:
    fields: dict[str, Any] = {
        "tenant_id": tenant, "action": "usage.report", "actor": Actor.api_key("key_svc", "svc", "service"),
        "target": Target("usage", tenant), "details": {"values": {"cases_created": i}},
    }
    return EventDraft(**{**fields, **overrides})


async def write(service: Service, *drafts: EventDraft, step: float = 1.0) -> None:
    """Commit each draft at its own time, ``step`` seconds apart (the service clock moves)."""
    for d in drafts:
        service.clock.advance(step)
        await append_events(service.services.store, service.clock, [d])


async def get_json(service: Service, path: str, headers: dict[str, str], **params: Any) -> tuple[int, Any]:
    resp = await service.client.get(path, headers=headers, params={k: str(v) for k, v in params.items()})
    return resp.status, await resp.json(content_type=None)


async def search(service: Service, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    status, body = await get_json(service, "/api/audit-logs/search", headers, limit=500, **params)
    assert 200 == status, body
    return body["data"]


@asynccontextmanager
async def holding_chain_lock(database_url: str, tenant: str) -> AsyncIterator[None]:
    """Another connection holds the tenant's chain head locked (and SQLite's write lock)."""
    other = await open_store(database_url)
    try:
        async with other.transaction() as tx:
            lock = " FOR UPDATE" if other.backend == "postgres" else ""
            await tx.fetch(f"SELECT seq FROM audit_chain_heads WHERE tenant_id = ?{lock}", tenant)
            await tx.execute("UPDATE audit_chain_heads SET updated_at = updated_at WHERE tenant_id = ?", tenant)
            yield
    finally:
        await other.close()


async def database_text(store: Store) -> str:
    """Everything the database holds, as text: every row of every table (and SQLite's raw files)."""
    if store.backend == "sqlite":
        path = Path(store.path)  # type: ignore[attr-defined]
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        tables = [r[0] for r in await store.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [str(r) for t in tables for r in await store.fetch(f"SELECT * FROM {t}")]
        return raw.decode("latin-1") + "\n".join(rows)
    tables = [r[0] for r in await store.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
    rows = []
    for t in tables:
        rows += [r[0] for r in await store.fetch(f"SELECT CAST(t AS TEXT) FROM {t} AS t")]
    return "\n".join(rows)

