"""Tenants provisioned over the API: the ``TenantStore`` protocol and its SQL, shared by both backends.

Every change runs in one transaction that also bumps the ``tenants`` row of ``revisions`` (locked
first, so changes commit in revision order and a replica that has revision N can ask for what came
after it), writes the change's audit events (``append_audit_in``: a change and its events commit
together or not at all) and, for a create sent with ``Idempotency-Key``, the answer to replay.

The store does not know the rules: the caller passes ``change``, which turns the stored row (or None)
into the row to store, and raises to leave everything as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from exporter.store.primitives import Row, Tx
from exporter.store.records import AuditRecord, IdempotencyRecord, TenantRecord

Sealer = Callable[[AuditRecord, int, str], AuditRecord]
TenantChange = Callable[[TenantRecord | None], TenantRecord]
EventsFor = Callable[[TenantRecord | None, TenantRecord, tuple[str, ...]], Sequence[AuditRecord]]

TENANTS = "tenants"  # the revision counter tenant changes bump
_COLUMNS = "id, spec, disabled, created_at, updated_at, revision, deleted_at"
_IDEMPOTENCY_COLUMNS = "scope, key, fingerprint, status, body, created_at"


@dataclass(frozen=True, slots=True)
class IdempotentCreate:
    """A create sent with ``Idempotency-Key``: ``answer`` gives the (status, body) to keep for a retry."""

    scope: str
    key: str
    fingerprint: str
    answer: Callable[[TenantRecord], tuple[int, str]]
    at: float


@dataclass(frozen=True, slots=True)
class TenantWrite:
    """What a write did: the row as stored, or the answer kept for this idempotency key (nothing written)."""

    record: TenantRecord | None
    replay: IdempotencyRecord | None = None
    revoked_keys: tuple[str, ...] = ()
    events: tuple[AuditRecord, ...] = ()


class TenantStore(Protocol):
    async def revision(self, name: str) -> int:
        """The revision counter ``name`` (``tenants``): it moves with every committed change."""
        ...

    async def tenants_since(self, revision: int, *, limit: int) -> list[TenantRecord]:
        """Rows changed after ``revision`` (tombstones included), in revision order."""
        ...

    async def tenants_page(self, *, after: str | None, limit: int) -> list[TenantRecord]:
        """Live tenants (no tombstones) with ids after ``after``, in id order."""
        ...

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        """The row, a tombstone included."""
        ...

    async def write_tenant(self, tenant_id: str, change: TenantChange, events: EventsFor, seal: Sealer, *,
                           idempotency: IdempotentCreate | None = None,
                           revoke_keys_at: float | None = None) -> TenantWrite:
        """Store ``change(stored row or None)`` with the next revision, revoke the tenant's keys when
        ``revoke_keys_at`` is set, and commit ``events(old, new, revoked key ids)`` with it; for an
        ``idempotency`` key already used, write nothing and return its answer."""
        ...

    async def prune_idempotency_keys(self, before: float) -> None:
        """Forget idempotency keys first used before ``before``."""
        ...


def _tenant(row: Row) -> TenantRecord:
    return TenantRecord(row[0], row[1], bool(row[2]), float(row[3]), float(row[4]), int(row[5]),
                        None if row[6] is None else float(row[6]))


class TenantsSqlMixin:
    """The TenantStore queries; needs the SqlStore primitives, ``backend`` and ``append_audit_in``."""

    backend: str

    if TYPE_CHECKING:  # what this mixin builds on
        async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

        async def execute(self, sql: str, *args: Any) -> None: ...

        def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

        async def append_audit_in(self, tx: Tx, records: Sequence[AuditRecord], seal: Sealer
                                  ) -> list[AuditRecord]: ...

    async def revision(self, name: str) -> int:
        rows = await self.fetch("SELECT revision FROM revisions WHERE name = ?", name)
        return int(rows[0][0]) if rows else 0

    async def tenants_since(self, revision: int, *, limit: int) -> list[TenantRecord]:
        rows = await self.fetch(f"SELECT {_COLUMNS} FROM tenants WHERE revision > ? ORDER BY revision LIMIT ?",
                                revision, limit)
        return [_tenant(r) for r in rows]

    async def tenants_page(self, *, after: str | None, limit: int) -> list[TenantRecord]:
        rows = await self.fetch(
            f"SELECT {_COLUMNS} FROM tenants WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
            after or "", limit)
        return [_tenant(r) for r in rows]

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        rows = await self.fetch(f"SELECT {_COLUMNS} FROM tenants WHERE id = ?", tenant_id)
        return _tenant(rows[0]) if rows else None

    async def write_tenant(self, tenant_id: str, change: TenantChange, events: EventsFor, seal: Sealer, *,
                           idempotency: IdempotentCreate | None = None,
                           revoke_keys_at: float | None = None) -> TenantWrite:
        async with self.transaction() as tx:
            lock = " FOR UPDATE" if self.backend == "postgres" else ""  # SQLite: BEGIN IMMEDIATE did it
            rows = await tx.fetch(f"SELECT revision FROM revisions WHERE name = ?{lock}", TENANTS)
            revision = int(rows[0][0]) + 1
            if idempotency is not None:
                rows = await tx.fetch(f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency_keys "
                                      "WHERE scope = ? AND key = ?", idempotency.scope, idempotency.key)
                if rows:
                    return TenantWrite(None, replay=IdempotencyRecord(*rows[0]))
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM tenants WHERE id = ?", tenant_id)
            old = _tenant(rows[0]) if rows else None
            new = replace(change(old), revision=revision)
            await tx.execute("UPDATE revisions SET revision = ? WHERE name = ?", revision, TENANTS)
            await tx.execute(
                f"INSERT INTO tenants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "spec = excluded.spec, disabled = excluded.disabled, updated_at = excluded.updated_at, "
                "revision = excluded.revision, deleted_at = excluded.deleted_at",
                new.id, new.spec, int(new.disabled), new.created_at, new.updated_at, new.revision, new.deleted_at)
            revoked: tuple[str, ...] = ()
            if revoke_keys_at is not None:
                rows = await tx.fetch("UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL "
                                      "RETURNING id", revoke_keys_at, tenant_id)
                revoked = tuple(sorted(str(r[0]) for r in rows))
            sealed = await self.append_audit_in(tx, events(old, new, revoked), seal)
            if idempotency is not None:
                status, body = idempotency.answer(new)
                await tx.execute(
                    f"INSERT INTO idempotency_keys ({_IDEMPOTENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    idempotency.scope, idempotency.key, idempotency.fingerprint, status, body, idempotency.at)
        return TenantWrite(new, revoked_keys=revoked, events=tuple(sealed))

    async def prune_idempotency_keys(self, before: float) -> None:
        await self.execute("DELETE FROM idempotency_keys WHERE created_at < ?", before)
