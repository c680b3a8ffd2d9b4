"""Audit-log storage: the ``AuditStore`` protocol and its SQL, shared by both backends.

``AuditSqlMixin`` is mixed into ``SqlStore`` and uses only its primitives (``fetch``,
``execute``, ``executemany``, ``transaction``). Chains are serialised per tenant *in the
database*: every append locks the tenant's row in ``audit_chain_heads`` (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already admits one writer at a time), so
several processes appending to one tenant still build one linear chain.

The store does not know how a record is hashed: the caller passes a ``Sealer`` that turns a
record, its sequence number and its predecessor's hash into the sealed record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import takewhile
from typing import TYPE_CHECKING, Any, Protocol

from exporter.store.primitives import Tx
from exporter.store.records import GENESIS_HASH, AuditFilter, AuditRecord, ChainHead, StoredCheckpoint

Sealer = Callable[[AuditRecord, int, str], AuditRecord]
Archiver = Callable[[Sequence[AuditRecord]], Awaitable[None]]
AnchorSigner = Callable[[str, int, str], str]
Cursor = tuple[float, str]

_COLUMNS = ", ".join(AuditRecord._fields)
_PLACEHOLDERS = ", ".join("?" for _ in AuditRecord._fields)
_HEAD_COLUMNS = "tenant_id, seq, hash, anchor_seq, anchor_hash, anchor_signature"


class AuditStore(Protocol):
    async def append_audit(self, records: Sequence[AuditRecord], seal: Sealer) -> list[AuditRecord]:
        """Seal and insert ``records`` in one transaction; return them sealed, in input order."""
        ...

    async def audit_page(
        self, flt: AuditFilter, *, limit: int, after: Cursor | None = None, offset: int = 0,
        newest_first: bool = True,
    ) -> list[AuditRecord]:
        """Events ordered by (time, id), starting after the keyset cursor ``after``."""
        ...

    async def audit_count(self, flt: AuditFilter) -> int:
        """How many events match ``flt`` (for a paged table's ``total``)."""
        ...

    async def audit_chain(self, tenant_id: str, *, after_seq: int, upto_seq: int, limit: int) -> list[AuditRecord]:
        """A tenant's records with ``after_seq < seq <= upto_seq``, in chain order."""
        ...

    async def audit_heads(self, *, after: str = "", limit: int | None = None) -> list[ChainHead]:
        """Chain heads in tenant order (those after ``after``, at most ``limit``: a page)."""
        ...

    async def audit_prune_candidates(self, before: float) -> list[str]:
        """Tenants whose oldest kept event is older than ``before`` (what retention may have to cut)."""
        ...

    async def audit_oldest(self, tenant_id: str) -> float | None:
        """The time of the tenant's oldest stored event."""
        ...

    async def prune_audit(
        self, tenant_id: str, *, before: float, limit: int, archive: Archiver | None, sign_anchor: AnchorSigner
    ) -> int:
        """Delete up to ``limit`` records from the start of the chain older than ``before``,
        after ``archive`` has taken them, and move the anchor past them; return how many."""
        ...

    async def save_audit_checkpoints(self, checkpoints: Sequence[StoredCheckpoint]) -> None: ...

    async def audit_checkpoints(self) -> list[StoredCheckpoint]: ...


def _record(row: Sequence[Any]) -> AuditRecord:
    return AuditRecord(*row)


class AuditSqlMixin:
    """The AuditStore queries; needs ``fetch/execute/executemany/transaction`` and ``backend``."""

    backend: str

    if TYPE_CHECKING:  # the SqlStore primitives this mixin builds on
        async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...

        async def execute(self, sql: str, *args: Any) -> None: ...

        async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

        def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def _lock_head(self, tx: Tx, tenant_id: str, *, create: bool, at: float = 0.0) -> ChainHead | None:
        """Read the tenant's head row, locked until the transaction ends."""
        lock = " FOR UPDATE" if self.backend == "postgres" else ""
        query = f"SELECT {_HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id = ?{lock}"
        rows = await tx.fetch(query, tenant_id)
        if not rows and create:
            await tx.execute(
                f"INSERT INTO audit_chain_heads ({_HEAD_COLUMNS}, updated_at) VALUES (?, 0, ?, 0, ?, '', ?) "
                "ON CONFLICT (tenant_id) DO NOTHING",
                tenant_id, GENESIS_HASH, GENESIS_HASH, at,
            )
            rows = await tx.fetch(query, tenant_id)
        return ChainHead(*rows[0]) if rows else None

    async def append_audit(self, records: Sequence[AuditRecord], seal: Sealer) -> list[AuditRecord]:
        async with self.transaction() as tx:
            return await self.append_audit_in(tx, records, seal)

    async def append_audit_in(self, tx: Tx, records: Sequence[AuditRecord], seal: Sealer) -> list[AuditRecord]:
        """``append_audit`` inside the caller's transaction (a change and its events commit together)."""
        by_tenant: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_tenant.setdefault(record.tenant_id, []).append(index)
        sealed: list[AuditRecord | None] = [None] * len(records)
        for tenant_id in sorted(by_tenant):  # one lock order for every writer: no deadlocks
            head = await self._lock_head(tx, tenant_id, create=True, at=records[by_tenant[tenant_id][0]].time)
            assert head is not None
            seq, prev = head.seq, head.hash
            chain: list[AuditRecord] = []
            for index in by_tenant[tenant_id]:
                seq += 1
                record = seal(records[index], seq, prev)
                prev = record.hash
                sealed[index] = record
                chain.append(record)
            await tx.executemany(
                f"INSERT INTO audit_events ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", chain
            )
            await tx.execute(
                "UPDATE audit_chain_heads SET seq = ?, hash = ?, updated_at = ? WHERE tenant_id = ?",
                seq, prev, chain[-1].time, tenant_id,
            )
        return [r for r in sealed if r is not None]

    async def audit_chain(self, tenant_id: str, *, after_seq: int, upto_seq: int, limit: int) -> list[AuditRecord]:
        rows = await self.fetch(
            f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            tenant_id, after_seq, upto_seq, limit,
        )
        return [_record(r) for r in rows]

    async def audit_heads(self, *, after: str = "", limit: int | None = None) -> list[ChainHead]:
        page = "" if limit is None else f" LIMIT {int(limit)}"
        rows = await self.fetch(
            f"SELECT {_HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id > ? ORDER BY tenant_id{page}", after)
        return [ChainHead(*r) for r in rows]

    async def audit_prune_candidates(self, before: float) -> list[str]:
        rows = await self.fetch(
            "SELECT h.tenant_id FROM audit_chain_heads h JOIN audit_events e "
            "ON e.tenant_id = h.tenant_id AND e.seq = h.anchor_seq + 1 WHERE e.time < ? ORDER BY h.tenant_id", before)
        return [str(r[0]) for r in rows]

    async def audit_oldest(self, tenant_id: str) -> float | None:
        rows = await self.fetch("SELECT MIN(time) FROM audit_events WHERE tenant_id = ?", tenant_id)
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def prune_audit(
        self, tenant_id: str, *, before: float, limit: int, archive: Archiver | None, sign_anchor: AnchorSigner
    ) -> int:
        async with self.transaction() as tx:
            head = await self._lock_head(tx, tenant_id, create=False)
            if head is None:
                return 0
            first = await tx.fetch("SELECT time FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT 1",
                                   tenant_id, head.anchor_seq)
            if not first or first[0][0] >= before:  # nothing expired: no need to read a batch of rows
                return 0
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                tenant_id, head.anchor_seq, limit,
            )
            # only a prefix of the chain goes, so what is kept still starts at the anchor
            expired = list(takewhile(lambda r: r.time < before, (_record(r) for r in rows)))
            if not expired:
                return 0
            if archive is not None:
                await archive(expired)  # raises -> rollback: nothing is deleted that was not archived
            last = expired[-1]
            await tx.execute("DELETE FROM audit_events WHERE tenant_id = ? AND seq <= ?", tenant_id, last.seq)
            await tx.execute(
                "UPDATE audit_chain_heads SET anchor_seq = ?, anchor_hash = ?, anchor_signature = ? "
                "WHERE tenant_id = ?",
                last.seq, last.hash, sign_anchor(tenant_id, last.seq, last.hash), tenant_id,
            )
        return len(expired)

    async def save_audit_checkpoints(self, checkpoints: Sequence[StoredCheckpoint]) -> None:
        if not checkpoints:
            return
        async with self.transaction() as tx:  # one commit: the first checkpoint of 1,000 tenants held SQLite ~0.3 s
            await tx.executemany(
                "INSERT INTO audit_checkpoints (tenant_id, seq, hash, time, signature) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                "time = excluded.time, signature = excluded.signature",
                [(c.tenant_id, c.seq, c.hash, c.time, c.signature) for c in checkpoints],  # not astuple: it deep-copies
            )

    async def audit_checkpoints(self) -> list[StoredCheckpoint]:
        rows = await self.fetch(
            "SELECT tenant_id, seq, hash, time, signature FROM audit_checkpoints ORDER BY tenant_id"
        )
        return [StoredCheckpoint(*r) for r in rows]
