"""Creating, listing and revoking API keys. The token is returned once and never stored."""

from __future__ import annotations

from exporter import tokens
from exporter.auth import ROLES
from exporter.catalog import Catalog
from exporter.clock import Clock
from exporter.errors import NotFound, ValidationFailed
from exporter.store import ApiKeyRecord, Store


async def create_key(
    store: Store, catalog: Catalog, clock: Clock, *, tenant_id: str, role: str, name: str = ""
) -> tuple[str, ApiKeyRecord]:
    """Make a key for ``tenant_id`` with ``role``; return (token, record)."""
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    if tenant_id not in catalog.tenants:
        raise NotFound(f"unknown tenant {tenant_id!r} (known: {', '.join(sorted(catalog.tenants))})",
                       slug="unknown-tenant")
    token = tokens.new_token()
    record = ApiKeyRecord(
        id=tokens.new_key_id(), tenant_id=tenant_id, role=role, name=name or f"{role} key",
        token_hash=tokens.token_hash(token), token_hint=tokens.hint(token), created_at=clock.now(),
    )
    await store.insert_api_key(record)
    return token, record


async def revoke_key(store: Store, clock: Clock, key_id: str) -> ApiKeyRecord:
    record = await store.revoke_api_key(key_id, clock.now())
    if record is None:
        raise NotFound(f"no API key with id {key_id!r}")
    return record
