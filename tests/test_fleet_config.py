"""A config reload on one replica reaches every replica: three processes on one PostgreSQL, one CONFIG_DIR."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.support.fleet import replicas, scrape
from tests.support.helpers import eventually, make_config_dir
from tests.support.metrics_helpers import samples
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.e2e

ACME = {"id": "acme", "name": "Acme", "plan": "enterprise", "region": "eu-west"}
INITECH = {"id": "initech", "name": "Initech", "plan": "standard", "region": "us-east"}
POLL = "0.2"


@pytest.fixture
def fleet(tmp_path: Path, postgres_url: str) -> Iterator[list[ServiceProcess]]:
    make_config_dir(tmp_path / "config", tenants=[ACME])
    processes = replicas(tmp_path, {"DATABASE_URL": postgres_url, "FLEET_POLL_INTERVAL": POLL}, 3)
    yield processes
    for p in processes:
        p.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def write_tenants(tmp_path: Path, tenants: list[dict]) -> None:
    (tmp_path / "config" / "tenants.yml").write_text(yaml.safe_dump({"version": 1, "tenants": tenants}))


async def running_config(http: aiohttp.ClientSession, p: ServiceProcess, token: str) -> tuple[object, ...]:
    """What a replica says it runs, in /metrics and in health: version, generation, last reload successful."""
    async with http.get(p.url + "/metrics") as r:
        text = await r.text()
    [info] = [s.labels["version"] for s in samples(text) if s.name == "tenant_exporter_config_info"]
    async with http.get(p.url + "/api/monitoring/health", headers={"Authorization": f"Bearer {token}"}) as r:
        config = (await r.json())["config"]
    return (info, await scrape(http, p, "tenant_exporter_config_reload_generation"),
            await scrape(http, p, "tenant_exporter_config_last_reload_successful"),
            config["version"], config["reload_generation"], config["last_reload_successful"])


async def all_agree(http: aiohttp.ClientSession, fleet: list[ServiceProcess], token: str,
                    expected: tuple[object, ...]) -> list[tuple[object, ...]] | None:
    states = [await running_config(http, p, token) for p in fleet]
    return states if all(s == expected for s in states) else None


async def test_a_reload_on_one_replica_is_applied_by_all_and_a_bad_file_refused_by_all(
        tmp_path: Path, fleet: list[ServiceProcess], http: aiohttp.ClientSession) -> None:
    """A reload asked of one replica (by the API, then by SIGHUP) is applied by all three, which then report the
    same version and generation in /metrics and health and serve the new tenant; a bad file, reloaded on
    another replica, is refused by every one, each keeping the version it ran."""
    a, b, c = fleet
    operator = a.cli("keys", "create", "--tenant", "acme", "--role", "operator").stdout.strip()
    for p in fleet:
        p.start()
    first = (await running_config(http, a, operator))[0]
    assert await all_agree(http, fleet, operator, (first, 0.0, 1.0, first, 0, True))

    write_tenants(tmp_path, [ACME, INITECH])
    async with http.post(a.url + "/-/reload", headers={"Authorization": f"Bearer {operator}"}) as r:
        reloaded = await r.json()
    second = reloaded["config_version"]
    await eventually(lambda: all_agree(http, fleet, operator, (second, 1.0, 1.0, second, 1, True)),
                     "every replica runs the reloaded config", deadline=15)
    viewer = a.cli("keys", "create", "--tenant", "initech", "--role", "viewer").stdout.strip()
    for p in fleet:
        async with http.get(p.url + "/api/tenant/config", headers={"Authorization": f"Bearer {viewer}"}) as r:
            assert (200, "initech") == (r.status, (await r.json())["id"])

    (tmp_path / "config" / "tenants.yml").write_text("version: 1\ntenants:\n  - id: initech\n    plan: platinum\n")
    async with http.post(b.url + "/-/reload", headers={"Authorization": f"Bearer {operator}"}) as r:
        refused = (r.status, await r.json())
    await eventually(lambda: all_agree(http, fleet, operator, (second, 2.0, 0.0, second, 2, False)),
                     "every replica refuses the bad file and keeps the version it ran", deadline=15)
    assert (True, 1, 400, 2) == (reloaded["reloaded"], reloaded["generation"], refused[0], refused[1]["generation"])
    assert any("tenants.yml:" in e for e in refused[1]["errors"]), refused[1]["errors"]

    write_tenants(tmp_path, [{**ACME, "name": "Acme Corporation"}, INITECH])
    c.signal(signal.SIGHUP)
    third = await eventually(lambda: _version_changed(http, c, operator, second), "the SIGHUP reload", deadline=15)
    await eventually(lambda: all_agree(http, fleet, operator, (third, 3.0, 1.0, third, 3, True)),
                     "every replica applies the SIGHUP reload", deadline=15)


async def _version_changed(http: aiohttp.ClientSession, p: ServiceProcess, token: str, old: str) -> str | None:
    version = (await running_config(http, p, token))[0]
    return None if version == old else str(version)


async def test_a_replica_down_during_a_reload_runs_the_same_config_once_back(
        tmp_path: Path, fleet: list[ServiceProcess], http: aiohttp.ClientSession) -> None:
    """A replica killed (SIGKILL) while the others reload starts with the files on disk and the fleet's
    generation, so it runs and reports what the others do."""
    a, b, c = fleet
    operator = a.cli("keys", "create", "--tenant", "acme", "--role", "operator").stdout.strip()
    for p in fleet:
        p.start()
    c.kill()
    write_tenants(tmp_path, [ACME, INITECH])
    async with http.post(a.url + "/-/reload", headers={"Authorization": f"Bearer {operator}"}) as r:
        version = (await r.json())["config_version"]
    await eventually(lambda: all_agree(http, [a, b], operator, (version, 1.0, 1.0, version, 1, True)),
                     "the replicas that run apply the reload", deadline=15)
    c.start()
    assert await all_agree(http, fleet, operator, (version, 1.0, 1.0, version, 1, True))
