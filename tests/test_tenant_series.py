"""Per-tenant series: eight per tenant, rendered ahead of the scrape and re-rendered only where a tenant
changed, switched off or served on a path of their own (TENANT_METRICS, TENANT_METRICS_PATH), counted."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import subprocess

import pytest

from exporter.core.errors import SettingsError
from exporter.http.routes import metrics as metrics_routes
from exporter.settings import Settings
from exporter.tenancy import metrics as quota_metrics
from tests.support.helpers import auth
from tests.support.metrics_helpers import samples, value
from tests.support.provisioning import ADMIN_TENANTS, create, write_rows
from tests.support.service import Service, ServiceFactory

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def database_url(tmp_path) -> str:
    """The series do not depend on the store: these tests run on SQLite only."""
    return f"sqlite:///{tmp_path}/series.db"


async def refreshed(service: Service) -> None:
    """What the background task does after a flush: render the tenants that changed."""
    await service.services.usage.flush()
    service.services.usage_metrics.mark(service.services.usage.take_changed())
    await service.services.usage_metrics.refresh(service.services.config.current.catalog, service.services.usage)


def per_tenant(text: str, tenant: str) -> dict[str, float]:
    return {s.name: s.value for s in samples(text) if s.labels.get("tenant") == tenant
            and s.name.startswith("tenant_exporter_") and not s.name.startswith("tenant_exporter_custom")}


async def test_a_provisioned_tenant_has_eight_series_from_its_creation(service: Service) -> None:
    """A tenant created over the API gets its usage and limit series (with its override) once the series are
    refreshed; a change of its limits shows in them; deleting it removes them."""
    operator = await service.headers("acme", "operator")
    await create(service, operator, "initech", plan="free", limits={"cases": 70})
    await refreshed(service)
    text = await (await service.client.get("/metrics")).text()
    assert 8 == len(per_tenant(text, "initech"))
    assert 70.0 == value(text, "tenant_exporter_cases_limit", tenant="initech", enforcement="hard")
    await service.client.patch(f"{ADMIN_TENANTS}/initech", json={"limits": {"cases": 80}}, headers=operator)
    await refreshed(service)
    assert 80.0 == value(await (await service.client.get("/metrics")).text(), "tenant_exporter_cases_limit",
                         tenant="initech")
    await service.client.delete(f"{ADMIN_TENANTS}/initech", headers=operator)
    await refreshed(service)
    assert {} == per_tenant(await (await service.client.get("/metrics")).text(), "initech")


async def test_only_the_block_of_a_changed_tenant_is_rendered_again(service: Service) -> None:
    """With 2,000 tenants, a request by one of them re-renders its block of 256 tenants after the flush, and
    the others' kept lines are the very same bytes as before."""
    ids = [f"t-{i:04d}" for i in range(2000)]
    await write_rows(service.services.store, ids)
    await service.services.tenant_sync.catch_up()
    await refreshed(service)
    series = service.services.usage_metrics
    before = list(series._blocks[0])
    token = auth(await service.token("t-1999", "viewer"))
    assert 200 == (await service.client.get("/api/tenant/config", headers=token)).status
    await refreshed(service)
    after = series._blocks[0]
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
    assert [series._slot["t-1999"] // quota_metrics.BLOCK] == changed
    text = await (await service.client.get("/metrics")).text()
    assert (1.0, 0.0) == (value(text, "tenant_exporter_api_calls_this_month", tenant="t-1999"),
                          value(text, "tenant_exporter_api_calls_this_month", tenant="t-0000"))


async def test_the_exposition_with_many_tenants_passes_promtool_in_every_format(service: Service) -> None:
    """3,000 tenants: text 0.0.4 passes `promtool check metrics`,
    OpenMetrics ends with one # EOF, gzip decodes to the same, and name[] picks a tenant family."""
    await write_rows(service.services.store, [f"t-{i:04d}" for i in range(3000)])
    await service.services.tenant_sync.catch_up()
    await refreshed(service)
    text = await (await service.client.get("/metrics")).text()
    result = await asyncio.to_thread(subprocess.run, ["promtool", "check", "metrics"], input=text,
                                     capture_output=True, text=True, check=False, timeout=60)
    assert (0, "") == (result.returncode, result.stderr)
    om = await (await service.client.get("/metrics", headers={"Accept": OPENMETRICS})).text()
    assert (1, True) == (om.count("# EOF"), om.endswith("# EOF\n"))
    gz = await service.client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert samples(text)[-8:] == samples(gzip.decompress(await gz.read()).decode())[-8:]
    only = await (await service.client.get("/metrics", params={"name[]": "tenant_exporter_cases_limit"})).text()
    assert ({"tenant_exporter_cases_limit"}, 3002) == ({s.name for s in samples(only)}, len(samples(only)))
    last = await (await service.client.get("/metrics")).text()
    count = value(await (await service.client.get("/metrics")).text(), "tenant_exporter_metrics_samples",
                  path="/metrics")
    assert len(samples(last)) == count


async def test_a_large_answer_is_streamed_whole(service: Service) -> None:
    """60,000 tenants (~30 MB of text): the plain answer is written in pieces with its Content-Length and
    X-Request-ID, and holds every tenant's eight series."""
    await write_rows(service.services.store, [f"t-{i:05d}" for i in range(60_000)])
    await service.services.tenant_sync.catch_up()
    await refreshed(service)
    resp = await service.client.get("/metrics", headers={"Accept-Encoding": "identity"})
    body = await resp.read()
    assert (200, str(len(body)), True) == (resp.status, resp.headers["Content-Length"], "X-Request-ID" in resp.headers)
    lines = [line for line in body.split(b"\n") if line.startswith(b"tenant_exporter_cases_limit{")]
    assert 60_002 == len(lines)


async def test_per_tenant_families_can_be_switched_off(make_service: ServiceFactory) -> None:
    """TENANT_METRICS=none: no series with a tenant label but the request counters'."""
    service = await make_service(tenant_metrics=())
    text = await (await service.client.get("/metrics")).text()
    assert [] == [s.name for s in samples(text) if "tenant" in s.labels and s.name.startswith("tenant_exporter_")]


async def test_per_tenant_families_can_have_a_path_of_their_own(make_service: ServiceFactory) -> None:
    """TENANT_METRICS_PATH: the quota and audit families are served there, and no longer on /metrics."""
    service = await make_service(tenant_metrics=("quota", "audit"), tenant_metrics_path="/metrics/tenants")
    await service.token("acme", "admin")
    await service.services.audit_maintenance.checkpoint()
    main = await (await service.client.get("/metrics")).text()
    tenants = await (await service.client.get("/metrics/tenants")).text()
    assert {} == per_tenant(main, "acme")
    assert {"tenant_exporter_cases_limit", "tenant_exporter_audit_checkpoint_seq"} <= set(per_tenant(tenants, "acme"))
    assert None is value(tenants, "process_resident_memory_bytes")


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ("quota",)),
    ({"TENANT_METRICS": "none"}, ()),
    ({"TENANT_METRICS": "quota, audit"}, ("quota", "audit")),
    ({"TENANT_METRICS": "tenant_exporter_cases,tenant_exporter_cases_limit"},
     ("tenant_exporter_cases", "tenant_exporter_cases_limit")),
], ids=["quota by default", "none switches them off", "groups listed", "single families"])
def test_tenant_metrics_is_read_from_the_environment(env: dict[str, str], expected: tuple[str, ...]) -> None:
    """TENANT_METRICS lists groups or family names; none is the empty list."""
    assert expected == Settings.from_env(env).tenant_metrics


@pytest.mark.parametrize("env", [{"TENANT_METRICS_PATH": "/metrics"}, {"TENANT_METRICS_PATH": "tenants"}],
                         ids=["the main path itself", "not a path"])
def test_a_tenant_metrics_path_that_cannot_work_is_refused(env: dict[str, str]) -> None:
    """A clear error at start, naming the variable."""
    with pytest.raises(SettingsError, match="TENANT_METRICS_PATH"):
        Settings.from_env(env)


async def test_an_unknown_tenant_family_stops_the_start(make_service: ServiceFactory) -> None:
    """TENANT_METRICS=quota,usage_ratio: a SettingsError naming the unknown item and the known ones."""
    with pytest.raises(SettingsError, match="unknown group or family 'usage_ratio'"):
        await make_service(tenant_metrics=("quota", "usage_ratio"))


async def test_a_large_answer_lets_the_loop_run_between_its_writes() -> None:
    """Writes that never wait (a client that reads as fast as loopback) still give the loop a turn every
    slice: 64 MB written to a sink that never suspends, while a ticker counts the loop's turns."""
    written: list[int] = []
    turns = 0

    class Sink:
        async def write(self, data: bytes) -> None:
            written.append(len(data))  # never suspends, as a write into a socket with room
            hashlib.sha256(data).digest()  # taking about as long as a copy into the socket

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    part = b"x" * 65536
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = turns
    await metrics_routes.write_in_pieces(Sink(), [part] * 1024)
    during = turns - before
    task.cancel()
    assert (64 * 1024 * 1024, True) == (sum(written), during >= 5)
    assert all(size == metrics_routes.WRITE for size in written)
