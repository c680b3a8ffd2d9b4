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
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.audit.chain import make_checkpoint, sign_anchor
from exporter.audit.events import PLATFORM
from exporter.core.clock import Clock
from exporter.core.errors import ArchiveError, StoreError
from exporter.settings import Settings
from exporter.store import AuditRecord, Store, StoredCheckpoint
from exporter.tenancy.catalog import Catalog

log = logging.getLogger(__name__)

DAY = 86_400.0


class AuditMaintenance:
    def __init__(
        self, store: Store, clock: Clock, registry: CollectorRegistry, settings: Settings,
        catalog: Callable[[], Catalog],
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._catalog = catalog
        self._key = settings.audit_checkpoint_key
        self._saved: dict[str, StoredCheckpoint] = {}
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

    def _known(self) -> set[str]:
        """Tenants that may appear as label values: the catalog's, and the platform."""
        return {*self._catalog().tenants, PLATFORM}

    def _retention_days(self) -> dict[str, int]:
        days = {t.id: t.plan.audit_retention_days for t in self._catalog().tenants.values()}
        days[PLATFORM] = self._settings.audit_platform_retention_days
        return days

    async def checkpoint(self) -> list[StoredCheckpoint]:
        """Sign and store each chain's head; refresh the checkpoint and oldest-event metrics."""
        now = self._clock.now()
        heads = [h for h in await self._store.audit_heads() if h.seq > 0]
        fresh = [make_checkpoint(self._key, h.tenant_id, h.seq, h.hash, now) for h in heads
                 if (old := self._saved.get(h.tenant_id)) is None or (old.seq, old.hash) != (h.seq, h.hash)]
        await self._store.save_audit_checkpoints(fresh)
        self._saved.update((c.tenant_id, c) for c in fresh)
        known = self._known()
        self._cp_seq.clear()
        self._cp_hash.clear()
        self._cp_signed.clear()
        self._oldest_age.clear()
        for cp in self._saved.values():
            if cp.tenant_id in known:
                self._cp_seq.labels(cp.tenant_id).set(cp.seq)
                self._cp_hash.labels(cp.tenant_id).set(int(cp.hash[:12], 16))
                self._cp_signed.labels(cp.tenant_id).set(1 if cp.signature else 0)
        for head in heads:
            oldest = await self._store.audit_oldest(head.tenant_id) if head.tenant_id in known else None
            if oldest is not None:
                self._oldest_age.labels(head.tenant_id).set(max(0.0, now - oldest))
        self._cp_time.set(now)
        return list(self._saved.values())

    async def run_retention(self) -> dict[str, int]:
        """Delete expired events of every catalog tenant (and the platform); return counts."""
        now = self._clock.now()
        batch = self._settings.audit_retention_batch
        deleted: dict[str, int] = {}
        for tenant_id, days in sorted(self._retention_days().items()):
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
