"""``tenant-exporter audit ...`` and the audited key commands, run as a user runs them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pwd
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exporter.audit.events import PLATFORM, Actor, EventDraft, Target
from exporter.audit.recorder import append_events
from exporter.store import Store, open_store
from tests.support.helpers import FakeClock, make_config_dir
from tests.support.service_process import ServiceProcess

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> ServiceProcess:
    make_config_dir(tmp_path / "config")
    return ServiceProcess(tmp_path, {"DATABASE_URL": database_url, "AUDIT_CHECKPOINT_KEY": KEY})


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Store]:
    store = await open_store(database_url)
    yield store
    await store.close()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


async def key_events(store: Store, *names: str) -> None:
    """api_key.create events for keys called ``names`` (as `keys create` would leave them)."""
    await append_events(store, FakeClock(), [
        EventDraft("default-tenant", "api_key.create", Actor.cli(), Target("api_key", f"key_{i}", name))
        for i, name in enumerate(names)])


async def test_key_commands_are_recorded_with_the_os_user(cli: ServiceProcess) -> None:
    """`keys create` and `keys revoke` leave api_key events whose actor is the OS user; the
    exported events never contain the token."""
    created = cli.cli("keys", "create", "--tenant", "default-tenant", "--role", "admin", "--name", "ci")
    token = created.stdout.strip()
    key_id = created.stderr.split()[1]
    assert 0 == cli.cli("keys", "revoke", key_id).returncode
    exported = cli.cli("audit", "export", "--tenant", "default-tenant", "--action", "api_key")
    assert 0 == exported.returncode, exported.stderr
    events = jsonl(exported.stdout)
    user = pwd.getpwuid(os.getuid()).pw_name
    assert [("api_key.create", "ci"), ("api_key.revoke", "ci")] == [(e["action"], e["target"]["name"]) for e in events]
    assert [{"type": "cli", "id": user, "name": user, "role": ""}] * 2 == [e["actor"] for e in events]
    assert "exported 2 event(s)" in exported.stderr
    assert token not in exported.stdout


async def test_verify_exits_nonzero_and_names_the_broken_row(cli: ServiceProcess, db: Store) -> None:
    """`audit verify` exits 0 on an untouched log and 1 after a row is edited, naming it."""
    await key_events(db, "a", "b", "c")
    ok = cli.cli("audit", "verify")
    assert (0, "default-tenant: OK, 3 record(s) verified") == (ok.returncode, ok.stdout[:40])
    await db.execute("UPDATE audit_events SET target_name = 'z' WHERE seq = 2")
    [row_id] = [r[0] for r in await db.fetch("SELECT id FROM audit_events WHERE seq = 2")]
    broken = cli.cli("audit", "verify", "--tenant", "default-tenant")
    assert 1 == broken.returncode
    assert f"default-tenant: BROKEN at seq 2 (id {row_id}): the row's content does not match its hash" in broken.stderr


async def test_a_checkpoint_file_catches_a_cut_tail_the_database_no_longer_shows(
    cli: ServiceProcess, db: Store, tmp_path: Path
) -> None:
    """After someone cuts the tail, fixes the head row and deletes the stored checkpoints,
    `audit verify` passes but `audit verify --checkpoint FILE` (a signed file kept elsewhere) fails."""
    await key_events(db, "a", "b", "c")
    made = cli.cli("audit", "checkpoint", "--output", str(tmp_path / "cp.json"))
    assert (0, "1 checkpoint(s)") == (made.returncode, made.stderr[:15]), made.stderr
    assert "signed" in made.stderr and 64 == len(json.loads((tmp_path / "cp.json").read_text())
                                                 ["checkpoints"][0]["signature"])
    second = await db.fetch("SELECT hash FROM audit_events WHERE seq = 2")
    await db.execute("DELETE FROM audit_events WHERE seq = 3")
    await db.execute("UPDATE audit_chain_heads SET seq = 2, hash = ?", second[0][0])
    await db.execute("DELETE FROM audit_checkpoints")
    assert 0 == cli.cli("audit", "verify").returncode
    against = cli.cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert 1 == against.returncode
    assert "BROKEN at seq 3: missing: a checkpoint records seq 3 but the chain ends at seq 2" in against.stderr


async def test_export_writes_filtered_csv_to_a_file_and_rejects_bad_filters(
    cli: ServiceProcess, db: Store, tmp_path: Path
) -> None:
    """`audit export --format csv --output F` with filters writes the matching rows (defused);
    a bad --since is a clear error with exit 1."""
    await key_events(db, "=evil()", "plain")
    out = tmp_path / "audit.csv"
    done = cli.cli("audit", "export", "--format", "csv", "--output", str(out), "-q", "EVIL", "--action", "api_key",
                   "--since", "2020-01-01T00:00:00Z")
    assert 0 == done.returncode, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [("api_key.create", "'=evil()")] == [(r["action"], r["target_name"]) for r in rows]
    bad = cli.cli("audit", "export", "--since", "last tuesday")
    assert (1, "tenant-exporter: since='last tuesday' is neither RFC 3339 nor Unix seconds\n") == (
        bad.returncode, bad.stderr)


async def test_a_sighup_reload_is_recorded_as_the_signal(cli: ServiceProcess) -> None:
    """A reload by SIGHUP leaves a config.reload event whose actor is the signal, with the files."""
    cli.start()
    try:
        cli.signal(signal.SIGHUP)
        for _ in range(50):  # the reload runs in the background after the signal
            events = jsonl(cli.cli("audit", "export", "--action", "config.reload").stdout)
            if events:
                break
            await asyncio.sleep(0.1)
    finally:
        assert 0 == cli.stop()
    [event] = events
    assert (PLATFORM, {"type": "system", "id": "signal:SIGHUP", "name": "signal:SIGHUP", "role": ""}, "success") == (
        event["tenant_id"], event["actor"], event["outcome"]["status"])
    assert ["monitoring.yml", "plans.yml", "regions.yml", "tenants.yml"] == sorted(
        Path(f).name for f in event["details"]["files"])
