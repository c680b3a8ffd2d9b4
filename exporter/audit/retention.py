"""Background audit work: retention per plan, archiving before deletion, checkpoints, metrics.

Retention deletes, per tenant, the records older than the plan's ``audit_retention_days``
(``0`` keeps them forever), oldest first in batches of ``AUDIT_RETENTION_BATCH``, each batch
its own short transaction. Only a prefix of the chain is ever cut, and the anchor (the hash of
the last record cut, HMAC-signed when a key is set) moves with it, so ``verify`` still passes.
With ``AUDIT_ARCHIVE_DIR`` set, each batch is first written and fsynced to
``<dir>/<tenant>/audit-<tenant>-<first seq>-<last seq>.jsonl`` (every stored field, so an
archive can be verified too); if that fails, nothing is deleted. Tenants no longer in the
catalog are left alone.

Checkpoints record each chain's head (seq, hash), HMAC-signed with ``AUDIT_CHECKPOINT_KEY``,
in the database and as metrics (so that Prometheus holds a copy the database cannot change).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Collection, Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.audit.chain import make_checkpoint, sign_anchor
from exporter.audit.events import PLATFORM
from exporter.core.clock import Clock
from exporter.core.errors import ArchiveError, StoreError
from exporter.core.pacing import Pacer
from exporter.settings import Settings
from exporter.store import AuditRecord, Store, StoredCheckpoint
from exporter.tenancy.catalog import Catalog

log = logging.getLogger(__name__)

DAY = 86_400.0


# Families with a series per audit chain: exported only when TENANT_METRICS names them (group ``audit``).
TENANT_FAMILIES: Final = ("tenant_exporter_audit_checkpoint_seq", "tenant_exporter_audit_checkpoint_hash_prefix",
                          "tenant_exporter_audit_checkpoint_signed", "tenant_exporter_audit_oldest_event_age_seconds",
                          "tenant_exporter_audit_retention_deleted")
PAGE: Final = 1000  # chain heads read per query


class AuditMaintenance:
    def __init__(
        self, store: Store, clock: Clock, registry: CollectorRegistry, settings: Settings,
        catalog: Callable[[], Catalog], per_tenant: Collection[str] = TENANT_FAMILIES,
    ) -> None:
        """``per_tenant``: which of ``TENANT_FAMILIES`` to export (each has a series per chain)."""
        self._store = store
        self._clock = clock
        self._settings = settings
        self._catalog = catalog
        self._key = settings.audit_checkpoint_key
        self._per_tenant = frozenset(per_tenant)
        self._saved: dict[str, StoredCheckpoint] = {}
        self._exported: set[str] = set()
        self._oldest_age = Gauge(
            "tenant_exporter_audit_oldest_event_age_seconds", "Age of the oldest stored audit event.",
            ["tenant"], registry=registry,
        )
        self._last_run = Gauge(
            "tenant_exporter_audit_retention_last_run_timestamp_seconds",
            "When audit retention last finished.", registry=registry,
        )
        self._deleted = Counter(
            "tenant_exporter_audit_retention_deleted_total", "Audit events deleted by retention.",
            ["tenant"], registry=registry,
        )
        self._cp_seq = Gauge(
            "tenant_exporter_audit_checkpoint_seq", "Sequence number of the last checkpointed audit record.",
            ["tenant"], registry=registry,
        )
        # The head hash as a number (its first 48 bits, exact in a float64), not as a label: a
        # label would start a new series at every checkpoint. Prometheus's history of this value
        # is an off-database record of the chain heads, which is what catches a truncated tail.
        self._cp_hash = Gauge(
            "tenant_exporter_audit_checkpoint_hash_prefix",
            "First 48 bits of the last checkpoint's head hash, as an integer.",
            ["tenant"], registry=registry,
        )
        self._cp_signed = Gauge(
            "tenant_exporter_audit_checkpoint_signed",
            "1 when the last checkpoint is signed (AUDIT_CHECKPOINT_KEY set), else 0.",
            ["tenant"], registry=registry,
        )
        self._cp_time = Gauge(
            "tenant_exporter_audit_checkpoint_timestamp_seconds", "When audit checkpoints were last taken.",
            registry=registry,
        )
        self._chains = Gauge("tenant_exporter_audit_chains", "Audit chains (one per tenant with events) checkpointed.",
                             registry=registry)

    def _known(self, tenant_id: str) -> bool:
        """A tenant that may appear as a label value: the catalog's, and the platform."""
        return tenant_id == PLATFORM or tenant_id in self._catalog().tenants

    def _retention_days(self, tenant_id: str) -> int:
        """The tenant's plan's retention (0 for a tenant no longer in the catalog: left alone)."""
        if tenant_id == PLATFORM:
            return self._settings.audit_platform_retention_days
        tenant = self._catalog().tenants.get(tenant_id)
        return tenant.plan.audit_retention_days if tenant is not None else 0

    async def checkpoint(self) -> list[StoredCheckpoint]:
        """Sign and store each chain's head that moved; refresh the checkpoint and oldest-event metrics.

        Heads are read a page at a time and signed 1 ms at a time: with 100,000 chains the loop is
        never held for the whole walk."""
        now = self._clock.now()
        pacer = Pacer()
        fresh: list[StoredCheckpoint] = []
        heads: list[str] = []
        after = ""
        while True:
            page = await self._store.audit_heads(after=after, limit=PAGE)
            moved = []
            for h in page:
                if h.seq > 0:
                    heads.append(h.tenant_id)
                    old = self._saved.get(h.tenant_id)
                    if old is None or (old.seq, old.hash) != (h.seq, h.hash):
                        moved.append(make_checkpoint(self._key, h.tenant_id, h.seq, h.hash, now))
                if pacer.due():
                    await pacer.pause()
            await self._store.save_audit_checkpoints(moved)  # a page per transaction: the store is never held long
            self._saved.update((c.tenant_id, c) for c in moved)
            fresh += moved
            if len(page) < PAGE:
                break
            after = page[-1].tenant_id
        if self._per_tenant:
            await self._export(fresh, heads, now, pacer)
        self._chains.set(len(heads))
        self._cp_time.set(now)
        return list(self._saved.values())

    async def _export(self, fresh: list[StoredCheckpoint], heads: list[str], now: float, pacer: Pacer) -> None:
        """The per-chain gauges of ``TENANT_FAMILIES`` that are on: changed chains set, deleted tenants removed."""
        on = self._per_tenant
        for tenant_id in [t for t in self._exported if not self._known(t)]:
            self._exported.discard(tenant_id)
            for gauge in (self._cp_seq, self._cp_hash, self._cp_signed, self._oldest_age):
                with suppress(KeyError):
                    gauge.remove(tenant_id)
        for cp in fresh:
            if self._known(cp.tenant_id):
                self._exported.add(cp.tenant_id)
                for name, gauge, value in ((TENANT_FAMILIES[0], self._cp_seq, cp.seq),
                                           (TENANT_FAMILIES[1], self._cp_hash, int(cp.hash[:12], 16)),
                                           (TENANT_FAMILIES[2], self._cp_signed, 1 if cp.signature else 0)):
                    if name in on:
                        gauge.labels(cp.tenant_id).set(value)
            if pacer.due():
                await pacer.pause()
        if TENANT_FAMILIES[3] in on:
            for tenant_id in heads:
                oldest = await self._store.audit_oldest(tenant_id) if self._known(tenant_id) else None
                if oldest is not None:
                    self._oldest_age.labels(tenant_id).set(max(0.0, now - oldest))

    async def run_retention(self) -> dict[str, int]:
        """Delete expired events of every catalog tenant (and the platform); return counts.

        Only the chains whose oldest event is older than the shortest retention are visited (one
        query finds them), not every tenant."""
        now = self._clock.now()
        batch = self._settings.audit_retention_batch
        deleted: dict[str, int] = {}
        shortest = min((d for d in [*(p.audit_retention_days for p in self._catalog().plans.values()),
                                     self._settings.audit_platform_retention_days] if d > 0), default=0)
        candidates = await self._store.audit_prune_candidates(now - shortest * DAY) if shortest else []
        for tenant_id in candidates:
            days = self._retention_days(tenant_id)
            if days <= 0:
                continue
            archive = partial(self._archive, tenant_id) if self._settings.audit_archive_dir else None
            total = 0
            while True:
                n = await self._store.prune_audit(
                    tenant_id, before=now - days * DAY, limit=batch, archive=archive,
                    sign_anchor=partial(sign_anchor, self._key),
                )
                total += n
                if n < batch:
                    break
                await asyncio.sleep(0)  # let requests through between batches
            if total:
                deleted[tenant_id] = total
                if TENANT_FAMILIES[4] in self._per_tenant:
                    self._deleted.labels(tenant_id).inc(total)
                log.info("audit retention: deleted %d event(s) of %s older than %d days", total, tenant_id, days)
        self._last_run.set(self._clock.now())
        return deleted

    async def _archive(self, tenant_id: str, records: Sequence[AuditRecord]) -> None:
        assert self._settings.audit_archive_dir is not None
        try:
            await asyncio.to_thread(write_archive, self._settings.audit_archive_dir, tenant_id, records)
        except OSError as e:  # not the store's failure: keep it apart from StoreUnavailable
            raise ArchiveError(f"cannot archive audit events of {tenant_id} to {e.filename}: {e.strerror}") from e

    async def run_forever(self) -> None:
        """Checkpoint every ``AUDIT_CHECKPOINT_INTERVAL`` s, retention every ``AUDIT_RETENTION_INTERVAL`` s."""
        loop = asyncio.get_running_loop()
        next_retention = loop.time()
        while True:
            try:
                if loop.time() >= next_retention:
                    next_retention = loop.time() + self._settings.audit_retention_interval
                    await self.run_retention()
                await self.checkpoint()
            except (StoreError, ArchiveError) as e:
                log.warning("audit maintenance failed (retrying next round): %s", e)
            await asyncio.sleep(self._settings.audit_checkpoint_interval)


def write_archive(directory: Path, tenant_id: str, records: Sequence[AuditRecord]) -> Path:
    """Write ``records`` (one JSON object per line, every stored field) durably; return the file."""
    folder = directory / tenant_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audit-{tenant_id}-{records[0].seq:012d}-{records[-1].seq:012d}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record._asdict(), separators=(",", ":")) + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
