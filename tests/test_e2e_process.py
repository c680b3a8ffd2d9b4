"""The service as a new user runs it: a real process, keys from the CLI, real HTTP."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.helpers import ROOT, TWO_TENANTS, eventually, make_config_dir
from tests.support.service_process import ServiceProcess


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    make_config_dir(tmp_path / "config")
    return tmp_path


@pytest.fixture
def proc(workdir: Path, database_url: str) -> Iterator[ServiceProcess]:
    p = ServiceProcess(workdir, {"DATABASE_URL": database_url, "USAGE_FLUSH_INTERVAL": "0.2"})
    yield p
    p.kill()


async def test_seed_examples_work_with_a_cli_key(proc: ServiceProcess) -> None:
    """`keys create` prints a token that the seed's curl examples accept; fields as in the seed."""
    created = proc.cli("keys", "create", "--tenant", "default-tenant", "--role", "admin", "--name", "readme")
    assert 0 == created.returncode, created.stderr
    token = created.stdout.strip()
    assert token.startswith("tex_") and "shown once" in created.stderr
    proc.start()
    async with aiohttp.ClientSession(proc.url, headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get("/api/tenant/config") as r:
            config = await r.json()
        async with http.get("/api/tenant/feature/ai_orchestration") as r:
            feature = await r.json()
        async with http.get("/api/tenant/usage") as r:
            usage = await r.json()
    assert {"id": "default-tenant", "name": "Default Tenant", "region": "us-east", "plan": "professional"}.items() \
        <= config.items()
    assert {"feature": "ai_orchestration", "enabled": True}.items() <= feature.items()
    assert {"api_calls_this_month", "api_calls_limit", "storage_used_gb", "storage_limit_gb", "team_members_active",
            "team_members_limit", "cases_created", "cases_limit"} == set(usage["usage"])
    assert ("professional", 3) == (usage["plan"], usage["usage"]["api_calls_this_month"])
    listing = proc.cli("keys", "list")
    assert "readme" in listing.stdout and token not in listing.stdout
    assert 0 == proc.stop()
    log = proc.log.read_text()
    assert token not in log
    assert "event loop uvloop" in log  # the default where uvloop is installed (a Linux dependency)


async def test_standard_asyncio_loop_on_request(workdir: Path, database_url: str) -> None:
    """EVENT_LOOP=asyncio runs the same service on the standard loop; a wrong value stops the start."""
    wrong = ServiceProcess(workdir, {"DATABASE_URL": database_url, "EVENT_LOOP": "tokio"})
    failed = wrong.cli("serve")
    assert 1 == failed.returncode and "EVENT_LOOP='tokio'" in failed.stderr and "uvloop, asyncio" in failed.stderr
    plain = ServiceProcess(workdir, {"DATABASE_URL": database_url, "EVENT_LOOP": "asyncio"})
    try:
        plain.start()
        async with aiohttp.ClientSession(plain.url) as http, http.get("/-/ready") as r:
            assert 200 == r.status
        assert 0 == plain.stop()
    finally:
        plain.kill()
    assert "event loop asyncio" in plain.log.read_text()


async def test_usage_survives_restart_and_sigterm_flushes(proc: ServiceProcess) -> None:
    """SIGTERM exits 0 after flushing; the next process still knows this month's count."""
    token = proc.cli("keys", "create", "--tenant", "default-tenant", "--role", "viewer").stdout.strip()
    proc.start()
    async with aiohttp.ClientSession(proc.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(25):
            async with http.get("/api/tenant/limits") as r:
                assert 200 == r.status
    assert 0 == proc.stop()
    proc.start()
    async with (
        aiohttp.ClientSession(proc.url, headers={"Authorization": f"Bearer {token}"}) as http,
        http.get("/api/tenant/usage") as r,
    ):
        assert 26 == (await r.json())["usage"]["api_calls_this_month"]
    assert 0 == proc.stop()


async def test_sighup_reloads_and_a_bad_file_keeps_the_old_config(proc: ServiceProcess, workdir: Path) -> None:
    """SIGHUP picks up new tenants; a broken file afterwards keeps serving the last good config."""
    operator = proc.cli("keys", "create", "--tenant", "default-tenant", "--role", "operator").stdout.strip()
    proc.start()
    make_config_dir(workdir / "config", tenants=TWO_TENANTS)
    proc.signal(signal.SIGHUP)
    headers = {"Authorization": f"Bearer {operator}", "X-Tenant-ID": "acme"}
    async with aiohttp.ClientSession(proc.url, headers=headers) as http:
        for _ in range(50):  # the reload runs in the background after the signal
            async with http.get("/api/tenant/config") as r:
                body = await r.json()
            if r.status == 200:
                break
            await asyncio.sleep(0.1)
        assert ("acme", "enterprise") == (body["id"], body["plan"])
        (workdir / "config" / "plans.yml").write_text((ROOT / "config" / "plans.yml").read_text()
                                                      .replace("storage_gb: 5\n", "storage_gb: five\n"))
        async with http.post("/-/reload") as r:
            problem = await r.json()
            assert 400 == r.status
            assert any("plans.yml:" in e and "plans.free.limits.storage_gb" in e for e in problem["errors"]), problem
        async with http.get("/api/tenant/config") as r:
            assert (200, "acme") == (r.status, (await r.json())["id"])
    assert 0 == proc.stop()


async def test_health_knows_every_service_right_after_start(proc: ServiceProcess) -> None:
    """The first probes run at start (not one 15 s interval later): within a few seconds of
    readiness, health has a result for the API (its own listener) and the database, both up."""
    token = proc.cli("keys", "create", "--tenant", "default-tenant", "--role", "viewer").stdout.strip()
    proc.start()
    async with aiohttp.ClientSession(proc.url, headers={"Authorization": f"Bearer {token}"}) as http:

        async def services() -> dict[str, bool | None] | None:
            async with http.get("/api/monitoring/health") as r:
                found = {name: s["up"] for name, s in (await r.json())["services"].items()}
            return found if None not in found.values() else None

        assert {"api": True, "database": True} == await eventually(services, "a first result", deadline=8)
