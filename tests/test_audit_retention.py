"""Retention per plan, archiving before deletion, the anchor that keeps verify passing, and
checkpoints (stored, signed, exported as metrics) that catch a cut tail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.audit.chain import verify_tenants
from exporter.audit.events import PLATFORM
from exporter.core.errors import ArchiveError, SettingsError
from exporter.settings import Settings
from tests.support.audit_helpers import get_json, usage_draft, write
from tests.support.service import ServiceFactory

DAY = 86_400
KEY = b"a checkpoint key the database never sees"


async def test_retention_deletes_expired_events_in_batches_after_archiving(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """Past the plan's audit_retention_days (free: 30), events are archived then deleted in
    batches; newer events and longer plans (enterprise) stay; the chain still verifies."""
    archive = tmp_path / "archive"
    service = await make_service(audit_archive_dir=archive, audit_retention_batch=3, audit_checkpoint_key=KEY,
                                 tenant_metrics=("quota", "audit"))
    await write(service, *(usage_draft(t, i) for i in range(7) for t in ("globex", "acme")))
    service.clock.advance(31 * DAY)
    await write(service, *(usage_draft("globex", i) for i in range(7, 9)))

    assert {"globex": 7} == await service.services.audit_maintenance.run_retention()

    store = service.services.store
    rows = await store.fetch("SELECT tenant_id, seq FROM audit_events ORDER BY tenant_id, seq")
    assert [("acme", s) for s in range(1, 8)] + [("globex", 8), ("globex", 9)] == [tuple(r) for r in rows]
    results = await verify_tenants(store, None, key=KEY)
    assert [("acme", True, 0), ("globex", True, 7)] == [(v.tenant_id, v.ok, v.anchor_seq) for v in results]

    files = sorted((archive / "globex").iterdir())
    assert ["audit-globex-000000000001-000000000003.jsonl", "audit-globex-000000000004-000000000006.jsonl",
            "audit-globex-000000000007-000000000007.jsonl"] == [f.name for f in files]
    archived = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert (list(range(1, 8)), list(range(7))) == (
        [r["seq"] for r in archived], [json.loads(r["details"])["values"]["cases_created"] for r in archived])
    value = service.registry.get_sample_value
    assert (service.clock.now(), 7.0) == (
        value("tenant_exporter_audit_retention_last_run_timestamp_seconds"),
        value("tenant_exporter_audit_retention_deleted_total", {"tenant": "globex"}))


async def test_nothing_is_deleted_when_the_archive_cannot_be_written(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """If archiving fails, retention deletes nothing and says which directory failed."""
    not_a_dir = tmp_path / "archive"
    not_a_dir.write_text("a file where the archive directory should be")
    service = await make_service(audit_archive_dir=not_a_dir)
    await write(service, usage_draft("globex", 1))
    service.clock.advance(31 * DAY)
    with pytest.raises(ArchiveError, match=r"cannot archive audit events of globex to .*archive"):
        await service.services.audit_maintenance.run_retention()
    assert [(1,)] == [tuple(r) for r in await service.services.store.fetch("SELECT seq FROM audit_events")]


async def test_a_forged_retention_anchor_is_detected_with_the_key(make_service: ServiceFactory) -> None:
    """Deleting the start of a chain and moving the anchor by hand fails verify when anchors
    are signed; the anchor retention itself set passes."""
    service = await make_service(audit_checkpoint_key=KEY)
    await write(service, *(usage_draft("globex", i) for i in range(3)))
    service.clock.advance(31 * DAY)
    await write(service, *(usage_draft("globex", i) for i in range(3, 6)))
    await service.services.audit_maintenance.run_retention()
    store = service.services.store
    assert [True] == [v.ok for v in await verify_tenants(store, ["globex"], key=KEY)]
    fourth = await store.fetch("SELECT hash FROM audit_events WHERE tenant_id = 'globex' AND seq = 4")
    await store.execute("DELETE FROM audit_events WHERE tenant_id = 'globex' AND seq = 4")
    await store.execute("UPDATE audit_chain_heads SET anchor_seq = 4, anchor_hash = ? WHERE tenant_id = 'globex'",
                        fourth[0][0])
    [result] = await verify_tenants(store, ["globex"], key=KEY)
    assert (False, 5) == (result.ok, result.broken.seq)
    assert "anchor's signature is invalid" in result.broken.reason


async def test_platform_events_follow_their_own_retention(make_service: ServiceFactory) -> None:
    """Platform events (reloads, failed logins) expire after AUDIT_PLATFORM_RETENTION_DAYS."""
    service = await make_service(audit_platform_retention_days=7)
    await write(service, usage_draft(PLATFORM, 1, action="config.reload"))
    service.clock.advance(8 * DAY)
    assert {PLATFORM: 1} == await service.services.audit_maintenance.run_retention()


async def test_checkpoints_are_signed_stored_exported_and_catch_a_cut_tail(make_service: ServiceFactory) -> None:
    """A checkpoint records each chain's head (signed), sets the checkpoint and oldest-age
    metrics (TENANT_METRICS=quota,audit); cutting the tail and fixing the head row afterwards makes
    verify fail there."""
    service = await make_service(audit_checkpoint_key=KEY, tenant_metrics=("quota", "audit"))
    await write(service, *(usage_draft("acme", i) for i in range(6)))
    service.clock.advance(100)
    [checkpoint] = await service.services.audit_maintenance.checkpoint()
    assert ("acme", 6, 64) == (checkpoint.tenant_id, checkpoint.seq, len(checkpoint.signature))
    value = service.registry.get_sample_value
    assert (6.0, float(int(checkpoint.hash[:12], 16)), 1.0, 105.0) == (
        value("tenant_exporter_audit_checkpoint_seq", {"tenant": "acme"}),
        value("tenant_exporter_audit_checkpoint_hash_prefix", {"tenant": "acme"}),
        value("tenant_exporter_audit_checkpoint_signed", {"tenant": "acme"}),
        value("tenant_exporter_audit_oldest_event_age_seconds", {"tenant": "acme"}))
    assert 1.0 == value("tenant_exporter_audit_chains")

    store = service.services.store
    fifth = await store.fetch("SELECT hash FROM audit_events WHERE tenant_id = 'acme' AND seq = 5")
    await store.execute("DELETE FROM audit_events WHERE tenant_id = 'acme' AND seq = 6")
    await store.execute("UPDATE audit_chain_heads SET seq = 5, hash = ? WHERE tenant_id = 'acme'", fifth[0][0])
    status, body = await get_json(service, "/api/audit-logs/verify", await service.headers("globex", "operator"),
                                  tenant="acme")
    assert (200, False, 6) == (status, body["ok"], body["tenants"][0]["first_broken"]["seq"])
    assert "the tail was cut" in body["tenants"][0]["first_broken"]["reason"]


def test_audit_settings_come_from_the_environment_and_the_key_is_never_shown(tmp_path: Path) -> None:
    """AUDIT_* variables are read once; the checkpoint key is kept out of the settings' repr,
    and a short key or a bad number is a clear startup error."""
    env = {"AUDIT_CHECKPOINT_KEY": KEY.decode(), "AUDIT_ARCHIVE_DIR": str(tmp_path), "AUDIT_RETENTION_BATCH": "50",
           "AUDIT_PLATFORM_RETENTION_DAYS": "0"}
    settings = Settings.from_env(env)
    assert (KEY, tmp_path, 50, 0) == (settings.audit_checkpoint_key, settings.audit_archive_dir,
                                      settings.audit_retention_batch, settings.audit_platform_retention_days)
    assert KEY.decode() not in repr(settings)
    with pytest.raises(SettingsError, match="AUDIT_CHECKPOINT_KEY must be at least 16 characters"):
        Settings.from_env({"AUDIT_CHECKPOINT_KEY": "short"})
    with pytest.raises(SettingsError, match="AUDIT_RETENTION_BATCH=0 must be positive"):
        Settings.from_env({"AUDIT_RETENTION_BATCH": "0"})
