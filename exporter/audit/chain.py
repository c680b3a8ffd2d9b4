"""Tamper evidence: per-tenant hash chains, their verification, and signed checkpoints.

Each record holds the previous record's hash and its own::

    hash_n = SHA-256( canonical(record_n) )      canonical() includes seq_n and prev_hash = hash_{n-1}

``canonical`` is a JSON array of every stored field in a fixed order (ASCII, no spaces, time in
integer microseconds), so anyone can recompute it without this code. The first record of a
tenant has ``prev_hash`` = 64 zeros; after retention deletes the start of a chain, the tenant's
*anchor* (the hash of the last deleted record) takes that place.

A chain proves order and integrity only against someone who cannot recompute it. Anyone with
write access to the database can rewrite a chain from the edit onwards, or cut its tail. That
is why checkpoints (tenant, seq, hash, time) are signed with HMAC-SHA256 under a key the
database does not hold (``AUDIT_CHECKPOINT_KEY``) and kept elsewhere too (``/metrics``, a file
from ``audit checkpoint``): verifying against one detects a rewrite or cut before it. The log is
tamper-evident, not tamper-proof.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.core.errors import StoreError
from exporter.core.pacing import Pacer
from exporter.store import AuditRecord, Store, StoredCheckpoint
from exporter.store.records import GENESIS_HASH

log = logging.getLogger(__name__)

CHAIN_FORMAT = "tenant-exporter/audit-chain/1"
VERIFY_BATCH = 1000
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))  # json.dumps(...), built once


def canonical(record: AuditRecord, seq: int, prev_hash: str) -> bytes:
    """The bytes hashed for ``record`` at position ``seq`` after ``prev_hash``."""
    r = record
    fields: list[Any] = [
        CHAIN_FORMAT, r.schema_version, r.tenant_id, seq, r.id, round(r.time * 1_000_000), r.action,
        r.actor_type, r.actor_id, r.actor_name, r.actor_role, r.target_type, r.target_id, r.target_name,
        r.outcome, r.reason, r.request_id, r.source_ip, r.user_agent, r.details, prev_hash,
    ]
    return _CANONICAL_JSON.encode(fields).encode("ascii")


def digest(record: AuditRecord, seq: int, prev_hash: str) -> str:
    """The hash of ``record`` at ``seq`` after ``prev_hash`` (hex SHA-256 of its canonical form)."""
    return hashlib.sha256(canonical(record, seq, prev_hash)).hexdigest()


def seal(record: AuditRecord, seq: int, prev_hash: str) -> AuditRecord:
    """``record`` placed at ``seq`` after ``prev_hash``, with its hash."""
    return record._replace(seq=seq, prev_hash=prev_hash, hash=digest(record, seq, prev_hash))


# --- signatures ------------------------------------------------------------------------------
def _sign(key: bytes | None, *parts: Any) -> str:
    if key is None:
        return ""
    message = json.dumps([CHAIN_FORMAT, *parts], separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_checkpoint(key: bytes | None, tenant_id: str, seq: int, hash_: str, time: float) -> str:
    """HMAC-SHA256 of a checkpoint, or ``''`` without a key."""
    return _sign(key, "checkpoint", tenant_id, seq, hash_, round(time * 1_000_000))


def sign_anchor(key: bytes | None, tenant_id: str, seq: int, hash_: str) -> str:
    """HMAC-SHA256 of a retention anchor, so that cutting the start of a chain needs the key."""
    return _sign(key, "anchor", tenant_id, seq, hash_)


def _valid(signature: str, expected: str) -> bool:
    return bool(signature) and hmac.compare_digest(signature, expected)


def make_checkpoint(key: bytes | None, tenant_id: str, seq: int, hash_: str, time: float) -> StoredCheckpoint:
    return StoredCheckpoint(tenant_id, seq, hash_, time, sign_checkpoint(key, tenant_id, seq, hash_, time))


def checkpoint_valid(key: bytes, cp: StoredCheckpoint) -> bool:
    return _valid(cp.signature, sign_checkpoint(key, cp.tenant_id, cp.seq, cp.hash, cp.time))


def checkpoint_document(checkpoints: list[StoredCheckpoint]) -> str:
    """The JSON ``audit checkpoint`` writes and ``audit verify --checkpoint`` reads."""
    body = {"format": CHAIN_FORMAT, "checkpoints": [
        {"tenant_id": c.tenant_id, "seq": c.seq, "hash": c.hash, "time": c.time, "signature": c.signature}
        for c in checkpoints
    ]}
    return json.dumps(body, indent=2) + "\n"


def read_checkpoint_file(path: Path) -> dict[str, StoredCheckpoint]:
    """Checkpoints by tenant from a ``checkpoint_document`` file; ValueError if unreadable."""
    try:
        body = json.loads(path.read_text())
        items = body["checkpoints"]
        return {c["tenant_id"]: StoredCheckpoint(str(c["tenant_id"]), int(c["seq"]), str(c["hash"]),
                                                 float(c["time"]), str(c["signature"])) for c in items}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a checkpoint file ({e})") from e


# --- verification ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Break:
    """The first place a chain does not hold: the row (seq and id, when there is a row) and why."""

    seq: int
    id: str
    reason: str

    def __str__(self) -> str:
        row = f"seq {self.seq} (id {self.id})" if self.id else f"seq {self.seq}"
        return f"{row}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Verification:
    tenant_id: str
    checked: int
    head_seq: int
    head_hash: str
    anchor_seq: int
    checkpoint_seq: int | None
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


async def verify_chain(
    store: Store, tenant_id: str, *, key: bytes | None = None, checkpoint: StoredCheckpoint | None = None,
    batch: int = VERIFY_BATCH, pacer: Pacer | None = None, progress: Callable[[int], None] | None = None,
) -> Verification:
    """Walk a tenant's chain from its anchor to the head read at the start; report the first break.

    With ``key``, the anchor and the checkpoint must carry valid signatures. With a checkpoint,
    the chain must still hold the checkpoint's record unchanged (a cut or rewritten tail fails).
    ``pacer`` (a new one by default) sets how often the walk gives the loop back, and whether it
    stops early (``Pacer(abandoned=...)``: the walk is logged and ``CancelledError`` raised).
    ``progress`` is told the number of rows checked after each batch.
    """
    heads = {h.tenant_id: h for h in await store.audit_heads()}
    head = heads.get(tenant_id)
    cp_seq = checkpoint.seq if checkpoint else None

    def result(checked: int, broken: Break | None) -> Verification:
        return Verification(tenant_id, checked, head.seq if head else 0, head.hash if head else GENESIS_HASH,
                            head.anchor_seq if head else 0, cp_seq, broken)

    if checkpoint is not None and key is not None and not checkpoint_valid(key, checkpoint):
        return result(0, Break(checkpoint.seq, "", "the checkpoint's signature is invalid (forged or another key)"))
    if head is None:
        if checkpoint is not None and checkpoint.seq > 0:
            return result(0, Break(1, "", f"no chain at all, but a checkpoint records seq {checkpoint.seq}: "
                                          "every row was deleted"))
        return result(0, None)
    if head.anchor_seq and key is not None and not _valid(
        head.anchor_signature, sign_anchor(key, tenant_id, head.anchor_seq, head.anchor_hash)
    ):
        return result(0, Break(head.anchor_seq + 1, "", "the retention anchor's signature is invalid: rows at the "
                                                        "start of the chain were removed outside retention"))
    expected, prev, last_id, checked = head.anchor_seq + 1, head.anchor_hash, "", 0
    pacer = pacer or Pacer()  # a batch takes ~30 ms to hash: the service's requests go on in between

    def fetch(after_seq: int) -> asyncio.Future[list[AuditRecord]]:
        return asyncio.ensure_future(store.audit_chain(tenant_id, after_seq=after_seq, upto_seq=head.seq, limit=batch))

    pending: asyncio.Future[list[AuditRecord]] | None = fetch(expected - 1)
    try:
        while pending is not None:
            rows = await pending
            # the next batch is read while this one is hashed
            pending = fetch(rows[-1].seq) if len(rows) == batch else None
            for r in rows:
                broken = _check(r, expected, prev, checkpoint)
                if broken is not None:
                    return result(checked, broken)
                expected, prev, last_id, checked = expected + 1, r.hash, r.id, checked + 1
                if pacer.due():
                    await pacer.pause()
            if progress is not None:
                progress(checked)
    except asyncio.CancelledError as e:
        log.info("audit verify of tenant %s stopped after %d of %d rows: %s", tenant_id, checked,
                 head.seq - head.anchor_seq, e.args[0] if e.args else "cancelled")
        raise
    finally:
        if pending is not None:
            pending.cancel()
            with suppress(asyncio.CancelledError, StoreError):
                await pending
    last = expected - 1
    if last == head.seq and prev != head.hash:
        return result(checked, Break(last, last_id, "the last row's hash does not match the chain head "
                                                    "(the row was edited and its hash recomputed)"))
    if last < head.seq:
        return result(checked, Break(last + 1, "", f"missing: the chain head records seq {head.seq} but the rows end "
                                                   f"at seq {last} (rows at the end were deleted)"))
    if checkpoint is not None and checkpoint.seq > last:
        return result(checked, Break(checkpoint.seq, "", f"missing: a checkpoint records seq {checkpoint.seq} "
                                                         f"but the chain ends at seq {last} (the tail was cut)"))
    return result(checked, None)


def _check(r: AuditRecord, expected: int, prev: str, checkpoint: StoredCheckpoint | None) -> Break | None:
    if r.seq != expected:
        first_missing = f"seq {expected}" if r.seq == expected + 1 else f"seqs {expected}..{r.seq - 1}"
        return Break(r.seq, r.id, f"{first_missing} missing before this row (deleted)")
    if r.prev_hash != prev:
        return Break(r.seq, r.id, f"prev_hash does not match the hash of seq {r.seq - 1}: a row before it "
                                  "was edited, replaced or moved")
    if digest(r, r.seq, r.prev_hash) != r.hash:
        return Break(r.seq, r.id, "the row's content does not match its hash (edited)")
    if checkpoint is not None and r.seq == checkpoint.seq and r.hash != checkpoint.hash:
        return Break(r.seq, r.id, "the row differs from the checkpoint's record (the chain was rewritten)")
    return None


async def verify_tenants(
    store: Store, tenant_ids: Iterable[str] | None, *, key: bytes | None,
    checkpoints: Mapping[str, StoredCheckpoint] | None = None, pacer: Pacer | None = None,
    batch: int = VERIFY_BATCH, progress: Callable[[int], None] | None = None,
) -> list[Verification]:
    """Verify the chains of ``tenant_ids`` (every chain when None), each against its checkpoint:
    the one given, else the last one the service stored. ``pacer``, ``batch`` as for ``verify_chain``;
    ``progress`` is told the rows checked so far, all chains together."""
    if checkpoints is None:  # read before the heads, so no checkpoint is newer than the head walked to
        checkpoints = {c.tenant_id: c for c in await store.audit_checkpoints()}
    ids = list(tenant_ids) if tenant_ids is not None else [h.tenant_id for h in await store.audit_heads()]
    pacer = pacer or Pacer()
    results: list[Verification] = []
    done = 0

    def tell(checked: int) -> None:
        if progress is not None:
            progress(done + checked)

    for t in ids:
        results.append(await verify_chain(store, t, key=key, checkpoint=checkpoints.get(t), pacer=pacer, batch=batch,
                                          progress=tell))
        done += results[-1].checked
    return results
