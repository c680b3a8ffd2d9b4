"""Creating, listing and revoking API keys: from the command line and over ``/api/keys``. The token is
returned once and never stored.

Who may manage which key (``check_grant``): an admin the keys of its own tenant, an operator those of
any tenant, and nobody a key whose role ranks above its own (viewer < service < admin < operator).

Creating and revoking are audited (``api_key.create`` / ``api_key.revoke``) once the key row is
written; if the event cannot be committed the call fails (a created key's token is then never
shown, so the key cannot be used). With ``audit`` (the service's writer) the event is group-committed
with others; without it (the command line) it is committed on its own.
"""

from __future__ import annotations

from typing import Final

from exporter.audit.actions import API_KEY_CREATE, API_KEY_REVOKE, api_key_event
from exporter.audit.events import NO_CONTEXT, Actor, EventDraft, RequestContext
from exporter.audit.recorder import AuditLog, append_events
from exporter.auth import tokens
from exporter.auth.principal import ROLES, Principal
from exporter.core.clock import Clock
from exporter.core.errors import Forbidden, NotFound, ValidationFailed
from exporter.store import ApiKeyRecord, Store
from exporter.tenancy.catalog import Catalog

_SERVICE = Actor.system("tenant-exporter")  # the actor when the caller names none
RANK: Final = {role: rank for rank, role in enumerate(ROLES)}  # viewer < service < admin < operator
_LISTED = 20  # an unknown tenant's error names the known ones when there are at most this many


def check_grant(principal: Principal, tenant_id: str, role: str) -> None:
    """403 unless ``principal`` may create (or revoke) a key of ``role`` for ``tenant_id``."""
    if role in RANK and RANK[role] > RANK[principal.role]:
        raise Forbidden(f"a {principal.role} key cannot manage a key with the higher role {role!r}",
                        slug="role-above-own")
    if not principal.is_operator and tenant_id != principal.home_tenant_id:
        raise Forbidden(f"this key manages the keys of tenant {principal.home_tenant_id!r} only", slug="other-tenant")


async def _record(store: Store, clock: Clock, audit: AuditLog | None, draft: EventDraft) -> None:
    if audit is not None:
        await audit.record(draft)
    else:
        await append_events(store, clock, [draft])


async def create_key(
    store: Store, catalog: Catalog, clock: Clock, *, tenant_id: str, role: str, name: str = "",
    actor: Actor | None = None, context: RequestContext = NO_CONTEXT, audit: AuditLog | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Make a key for ``tenant_id`` with ``role``; return (token, record). ``actor``: who asked."""
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    if tenant_id not in catalog.tenants:
        row = await store.get_tenant(tenant_id)  # provisioned over the API (the command line reads only the files)
        if row is None or row.deleted_at is not None:
            known = f" (known: {', '.join(sorted(catalog.tenants))})" if len(catalog.tenants) <= _LISTED else ""
            raise NotFound(f"unknown tenant {tenant_id!r}{known}", slug="unknown-tenant")
    token = tokens.new_token()
    record = ApiKeyRecord(
        id=tokens.new_key_id(), tenant_id=tenant_id, role=role, name=name or f"{role} key",
        token_hash=tokens.token_hash(token), token_hint=tokens.hint(token), created_at=clock.now(),
    )
    await store.insert_api_key(record)
    await _record(store, clock, audit, api_key_event(API_KEY_CREATE, record, actor or _SERVICE, context))
    return token, record


async def revoke_key(store: Store, clock: Clock, key_id: str, *, actor: Actor | None = None,
                     context: RequestContext = NO_CONTEXT, audit: AuditLog | None = None,
                     by: Principal | None = None) -> ApiKeyRecord:
    """Revoke a key (idempotent: a key revoked before stays so, and the event says it was already).

    ``by``: the principal asking over the API, who may revoke only keys it could create (else the
    key is not found, or, in its own tenant, above its role: 403)."""
    found = await store.api_key(key_id)
    if found is None or (by is not None and not by.is_operator and found.tenant_id != by.home_tenant_id):
        raise NotFound(f"no API key with id {key_id!r}")
    if by is not None:
        check_grant(by, found.tenant_id, found.role)
    record = await store.revoke_api_key(key_id, clock.now())
    if record is None:
        raise NotFound(f"no API key with id {key_id!r}")
    event = api_key_event(API_KEY_REVOKE, record, actor or _SERVICE, context,
                          already_revoked=found.revoked_at is not None)
    await _record(store, clock, audit, event)
    return record
