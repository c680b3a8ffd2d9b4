"""Creating, listing and revoking API keys. The token is returned once and never stored.

Creating and revoking are audited (``api_key.create`` / ``api_key.revoke``) once the key row is
written; if the event cannot be committed the call fails (a created key's token is then never
shown, so the key cannot be used).
"""

from __future__ import annotations

from exporter.audit.actions import API_KEY_CREATE, API_KEY_REVOKE, api_key_event
from exporter.audit.events import Actor
from exporter.audit.recorder import append_events
from exporter.auth import tokens
from exporter.auth.principal import ROLES
from exporter.core.clock import Clock
from exporter.core.errors import NotFound, ValidationFailed
from exporter.store import ApiKeyRecord, Store
from exporter.tenancy.catalog import Catalog

_SERVICE = Actor.system("tenant-exporter")  # the actor when the caller names none


async def create_key(
    store: Store, catalog: Catalog, clock: Clock, *, tenant_id: str, role: str, name: str = "",
    actor: Actor | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Make a key for ``tenant_id`` with ``role``; return (token, record). ``actor``: who asked."""
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
    await append_events(store, clock, [api_key_event(API_KEY_CREATE, record, actor or _SERVICE)])
    return token, record


async def revoke_key(store: Store, clock: Clock, key_id: str, *, actor: Actor | None = None) -> ApiKeyRecord:
    now = clock.now()
    record = await store.revoke_api_key(key_id, now)
    if record is None:
        raise NotFound(f"no API key with id {key_id!r}")
    event = api_key_event(API_KEY_REVOKE, record, actor or _SERVICE, already_revoked=record.revoked_at != now)
    await append_events(store, clock, [event])
    return record

