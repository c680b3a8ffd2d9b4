"""Tenants provisioned over the API: create (idempotent with ``Idempotency-Key``), change, disable,
delete; and the listing, which shows ``tenants.yml`` tenants too, read-only, with their source.

A tenant is checked by the same rules as ``tenants.yml`` (``tenancy/spec.py``) against the plans in
force. Each change is one transaction with its audit event (in the tenant's own chain) and, on
create, the answer kept for a retry; then this process serves the change at once and the other
replicas within ``TENANT_SYNC_INTERVAL`` (``tenancy/sync.py``). Deleting a tenant revokes its keys
and keeps a tombstone: its id is never reused, its audit chain stays in the store and verifiable.
A tenant's region is fixed when it is created (its data lives there).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from exporter.audit.actions import TENANT_CREATE, TENANT_DELETE, TENANT_DISABLE, TENANT_ENABLE, TENANT_UPDATE
from exporter.audit.chain import seal
from exporter.audit.events import Actor, EventDraft, RequestContext, Target, to_record
from exporter.audit.recorder import AuditLog
from exporter.auth.keyring import KeyRing
from exporter.core.clock import Clock
from exporter.core.errors import Conflict, NotFound, ValidationFailed
from exporter.provisioning.patch import TenantPatch, changed_fields, patched
from exporter.store import AuditRecord, Store, TenantRecord
from exporter.store.tenants_sql import IdempotentCreate, TenantWrite
from exporter.tenancy.catalog import Catalog, Tenant, TenantSource
from exporter.tenancy.directory import TenantDirectory
from exporter.tenancy.spec import IssueList, TenantSpec

_encode = msgspec.json.Encoder().encode
_decode_spec = msgspec.json.Decoder(TenantSpec).decode


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant as the admin API shows it: its definition and where it comes from."""

    spec: TenantSpec
    source: TenantSource
    disabled: bool = False
    created_at: float | None = None
    updated_at: float | None = None
    revision: int = 0


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An ``Idempotency-Key`` and whose it is (the calling API key)."""

    scope: str
    key: str


@dataclass(frozen=True, slots=True)
class Created:
    status: int
    body: str
    replayed: bool
    tenant_id: str


class _Unchanged(Exception):
    def __init__(self, record: TenantRecord) -> None:
        self.record = record


def view(record: TenantRecord) -> TenantView:
    return TenantView(_decode_spec(record.spec), "api", record.disabled, record.created_at, record.updated_at,
                      record.revision)


def _view_of(tenant: Tenant) -> TenantView:
    assert tenant.spec is not None
    return TenantView(tenant.spec, tenant.source, tenant.disabled, revision=tenant.revision)


class TenantAdmin:
    def __init__(self, store: Store, directory: TenantDirectory, keyring: KeyRing, audit: AuditLog,
                 clock: Clock) -> None:
        self._store, self._directory, self._keyring, self._audit, self._clock = (
            store, directory, keyring, audit, clock)
        self._files: tuple[Catalog | None, list[str]] = (None, [])

    def _check(self, spec: TenantSpec) -> None:
        """422 with every problem, each with a JSON pointer, unless ``spec`` is a valid tenant."""
        issues = IssueList()
        self._directory.builder.build(spec, issues, source="api")
        if issues.issues:
            errors = [{"detail": message, "pointer": "#" + "".join(f"/{p}" for p in path)}
                      for path, message in issues.issues]
            raise ValidationFailed(f"{len(errors)} problem(s) with tenant {spec.id!r}: {errors[0]['detail']}",
                                   extra={"errors": errors})

    def _not_from_files(self, tenant_id: str) -> None:
        tenant = self._directory.catalog.tenants.get(tenant_id)
        if tenant is not None and tenant.source != "api":
            raise Conflict(f"tenant {tenant_id!r} is defined in {tenant.source} and read-only here",
                           slug="tenant-read-only")

    async def create(self, spec: TenantSpec, actor: Actor, context: RequestContext,
                     idempotency: Idempotency | None, answer: Callable[[TenantView], bytes]) -> Created:
        """Store a new tenant (201), or replay the first answer to the same ``Idempotency-Key``."""
        now = self._clock.now()
        canonical = _encode(spec)
        fingerprint = hashlib.sha256(b"POST /api/admin/tenants\n" + canonical).hexdigest()

        def change(old: TenantRecord | None) -> TenantRecord:
            self._not_from_files(spec.id)
            if old is not None:
                raise Conflict(f"tenant {spec.id!r} was deleted; ids are never reused" if old.deleted_at
                               else f"tenant {spec.id!r} already exists", slug="tenant-exists")
            self._check(spec)
            return TenantRecord(spec.id, canonical.decode(), False, now, now, 0)

        def events(old: TenantRecord | None, new: TenantRecord, revoked: tuple[str, ...]) -> list[AuditRecord]:
            return [self._event(TENANT_CREATE, spec, actor, context, {"tenant": msgspec.to_builtins(spec)}, now)]

        keep = None if idempotency is None else IdempotentCreate(
            idempotency.scope, idempotency.key, fingerprint, lambda record: (201, answer(view(record)).decode()), now)
        written = await self._store.write_tenant(spec.id, change, events, seal, idempotency=keep)
        if written.replay is not None:
            if written.replay.fingerprint != fingerprint:
                raise ValidationFailed("this Idempotency-Key was used with another request body; use a new key",
                                       slug="idempotency-key-reused")
            return Created(written.replay.status, written.replay.body, True, spec.id)
        record = await self._served(written)
        return Created(201, answer(view(record)).decode(), False, spec.id)

    async def update(self, tenant_id: str, patch: TenantPatch, actor: Actor, context: RequestContext) -> TenantView:
        """Apply a JSON merge patch; ``{"disabled": true}`` disables the tenant (its keys get 403)."""
        now = self._clock.now()
        self._not_from_files(tenant_id)
        changes: dict[str, Any] = {}

        def change(old: TenantRecord | None) -> TenantRecord:
            if old is None or old.deleted_at is not None:
                raise NotFound(f"no tenant {tenant_id!r}", slug="unknown-tenant")
            before = _decode_spec(old.spec)
            after, disabled = patched(before, old.disabled, patch)
            changes.update(changed_fields(before, after, old.disabled, disabled))
            if not changes:
                raise _Unchanged(old)
            self._check(after)
            return replace(old, spec=_encode(after).decode(), disabled=disabled, updated_at=now)

        def events(old: TenantRecord | None, new: TenantRecord, revoked: tuple[str, ...]) -> list[AuditRecord]:
            action = TENANT_UPDATE
            if set(changes) == {"disabled"}:
                action = TENANT_DISABLE if new.disabled else TENANT_ENABLE
            return [self._event(action, _decode_spec(new.spec), actor, context, {"changes": changes}, now)]

        try:
            written = await self._store.write_tenant(tenant_id, change, events, seal)
        except _Unchanged as same:
            return view(same.record)
        return view(await self._served(written))

    async def delete(self, tenant_id: str, actor: Actor, context: RequestContext) -> TenantView:
        """Delete a tenant: its keys are revoked, its id retired, its audit events kept."""
        now = self._clock.now()
        self._not_from_files(tenant_id)

        def change(old: TenantRecord | None) -> TenantRecord:
            if old is None or old.deleted_at is not None:
                raise NotFound(f"no tenant {tenant_id!r}", slug="unknown-tenant")
            return replace(old, deleted_at=now, updated_at=now)

        def events(old: TenantRecord | None, new: TenantRecord, revoked: tuple[str, ...]) -> list[AuditRecord]:
            return [self._event(TENANT_DELETE, _decode_spec(new.spec), actor, context,
                                {"keys_revoked": list(revoked)}, now)]

        written = await self._store.write_tenant(tenant_id, change, events, seal, revoke_keys_at=now)
        for key_id in written.revoked_keys:
            self._keyring.remove(key_id)
        return view(await self._served(written))

    async def _served(self, written: TenantWrite) -> TenantRecord:
        """Serve what was just committed, here and now; count its audit events."""
        assert written.record is not None
        self._audit.counted(written.events)
        await self._directory.apply([written.record], fetched=False)
        return written.record

    @staticmethod
    def _event(action: str, spec: TenantSpec, actor: Actor, context: RequestContext, details: dict[str, Any],
               now: float) -> AuditRecord:
        return to_record(EventDraft(spec.id, action, actor, Target("tenant", spec.id, spec.name), details=details,
                                    context=context), now)

    async def get(self, tenant_id: str) -> TenantView:
        tenant = self._directory.catalog.tenants.get(tenant_id)
        if tenant is not None and tenant.source != "api":
            return _view_of(tenant)
        record = await self._store.get_tenant(tenant_id)
        if record is None or record.deleted_at is not None:
            raise NotFound(f"no tenant {tenant_id!r}" if record is None else f"tenant {tenant_id!r} was deleted",
                           slug="unknown-tenant")
        return view(record)

    async def page(self, after: str | None, limit: int) -> tuple[list[TenantView], bool]:
        """Tenants in id order after ``after`` (the files' and the API's together): a page, and whether more follow."""
        rows = await self._store.tenants_page(after=after, limit=limit + 1)
        ids = self._file_ids()
        start = bisect.bisect_right(ids, after) if after else 0
        tenants = self._directory.catalog.tenants
        merged = sorted([*(view(r) for r in rows if r.id not in tenants or tenants[r.id].source == "api"),
                         *(_view_of(tenants[i]) for i in ids[start:start + limit + 1])], key=lambda v: v.spec.id)
        return merged[:limit], len(merged) > limit

    def _file_ids(self) -> list[str]:
        """The ids of tenants from tenants.yml (or the environment), sorted, once per catalog."""
        catalog = self._directory.catalog
        if self._files[0] is not catalog:
            self._files = (catalog, sorted(t.id for t in catalog.tenants.values() if t.source != "api"))
        return self._files[1]
