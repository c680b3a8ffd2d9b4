"""Durability under SIGKILL and SIGTERM, on both stores: no acknowledged audit event is lost, the
chain stays valid, and writing continues on it after a restart. (Longer runs: bench/audit_crash.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.support.crash_load import crash_round, logged_request_ids, prepare


async def test_no_acknowledged_event_is_lost_when_the_process_is_killed(tmp_path: Path, database_url: str) -> None:
    """50 clients report usage; the service is SIGKILLed at a random moment, then again after a
    restart; every request answered 2xx has its event, and `audit verify` passes."""
    proc, token = prepare(tmp_path, database_url)
    try:
        first = await crash_round(proc, token, label="first")
        second = await crash_round(proc, token, label="second")  # the restarted service continues the chain
        proc.start()
        logged = logged_request_ids(proc)
        verify = proc.cli("audit", "verify", "--tenant", "load")
    finally:
        proc.kill()
    acknowledged = first.acknowledged | second.acknowledged
    assert len(first.acknowledged) > 50 and len(second.acknowledged) > 50, (first, second)
    assert set() == acknowledged - logged
    assert 0 == verify.returncode, verify.stderr
    assert verify.stdout.startswith("load: OK")


async def test_sigterm_under_audited_writes_commits_every_acknowledged_event_and_exits_0(
        tmp_path: Path, database_url: str) -> None:
    """50 clients report usage; SIGTERM at a random moment: the writes in flight finish (none is
    refused), the process exits 0, and every write answered 2xx has its committed event."""
    proc, token = prepare(tmp_path, database_url)
    try:
        stopped = await crash_round(proc, token, label="term", graceful=True)
        proc.start()
        logged = logged_request_ids(proc)
        verify = proc.cli("audit", "verify", "--tenant", "load")
    finally:
        proc.kill()
    assert 0 == stopped.exit_code
    assert len(stopped.acknowledged) > 50 and 0 == stopped.refused, stopped
    assert set() == stopped.acknowledged - logged
    assert 0 == verify.returncode, verify.stderr
