"""Time nobody observed is accounted, not assumed up: a stop is unobserved time, downtime of the API (by default)
and a breach when long enough; a gap another replica covered is no gap; the interval arithmetic itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.sla.coverage import gaps, merged, unobserved
from tests.support.helpers import TWO_TENANTS, make_config_dir
from tests.support.service import Service, ServiceFactory

STEP = 10.0  # the probe interval in these tests, seconds


def monitoring(api_policy: str | None = None) -> str:
    policy = f", unobserved: {api_policy}" if api_policy else ""
    return f"""version: 1
evaluation_interval: 15s
window: 5m
probes: {{interval: 10s, timeout: 2s}}
services:
  api: {{sla_target: 99.9%{policy}}}
sla: {{breach_min_failures: 2, breach_min_duration: 1m}}
rules: []
"""


async def rounds(service: Service, count: int) -> None:
    """``count`` probing rounds, each one interval after the last (the API probe GETs the service's own port)."""
    for _ in range(count):
        service.clock.advance(STEP)
        results = await service.services.probes.run_once()
        assert all(r.success for r in results), results


async def sla(service: Service) -> dict:
    async with service.client.get("/api/monitoring/sla?details=true", headers=await service.headers("acme")) as r:
        assert 200 == r.status
        return dict(await r.json())


@pytest.mark.parametrize(("policy", "api_downtime", "api_breaches", "api_uptime"), [
    (None, 1.25, 1, 54.5455),
    ("exclude", 0.0, 0, 100.0),
], ids=["by default a 75 s stop is 75 s of API downtime and a breach",
        "with `unobserved: exclude` the stop is reported but left out of uptime"])
async def test_a_stop_is_unobserved_time_counted_as_the_policy_says(
    make_service: ServiceFactory, tmp_path: Path, policy: str | None, api_downtime: float, api_breaches: int,
    api_uptime: float,
) -> None:
    """60 s observed, a 75 s stop, 30 s observed: every service reports 1.25 unobserved minutes and 54.5 %
    coverage; the API counts them as downtime and a breach (from the stop to the start) unless told to exclude
    them; the database's unobserved time is excluded (its monitor being down says nothing about it)."""
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS, **{"monitoring.yml": monitoring(policy)})
    first = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(first, 6)
    stopped = first.clock.now()
    await first.client.close()
    first.clock.advance(75)
    second = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(second, 3)
    body = await sla(second)
    api, database = body["services"]["api"], body["services"]["database"]
    assert (1.25, 54.5455, api_downtime, api_uptime, api_breaches) == (
        api["unobserved_minutes"], api["coverage"], api["downtime_minutes"], api["uptime"], api["breaches_this_month"])
    assert (1.25, 54.5455, 0.0, 100.0, "exclude") == (
        database["unobserved_minutes"], database["coverage"], database["downtime_minutes"], database["uptime"],
        database["unobserved_policy"])
    assert [("unobserved", 1.25, False)] * api_breaches == [
        (b["cause"], b["duration_minutes"], b["ongoing"]) for b in api["breaches"]]
    if api_breaches:
        assert stopped == pytest.approx(second.services.sla.snapshot().service("api").breach_list[0].started_at)


async def test_a_gap_another_replica_observed_is_no_gap(make_service: ServiceFactory, tmp_path: Path) -> None:
    """Replica a stops for 75 s while replica b keeps probing and heartbeating: the API was observed all along,
    nothing is unobserved and nothing is a breach."""
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS, **{"monitoring.yml": monitoring()})
    a = await make_service(config_dir=config, instance_id="replica-a")
    b = await make_service(config_dir=config, instance_id="replica-b")
    for _ in range(6):
        b.clock.advance(STEP)
        await a.services.probes.run_once()
        await b.services.probes.run_once()
    await a.services.sla.flush()
    await a.client.close()
    for _ in range(8):  # 80 s: a is stopped, b goes on
        await rounds(b, 1)
        await b.services.sla.flush()
    a = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(a, 2)
    await a.services.sla.flush()
    body = await sla(a)
    assert (0.0, 100.0, 0.0, 0) == (body["services"]["api"]["unobserved_minutes"], body["services"]["api"]["coverage"],
                                    body["services"]["api"]["downtime_minutes"], body["breaches_this_month"])


async def test_before_monitoring_began_nothing_is_unobserved(make_service: ServiceFactory, tmp_path: Path) -> None:
    """A first start in the middle of the month: the days before it are not a gap (the service did not exist for
    its monitor), and before any result the figures are null, never a made-up 100 %."""
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS, **{"monitoring.yml": monitoring()})
    service = await make_service(config_dir=config)
    empty = (await sla(service))["services"]["api"]
    await rounds(service, 2)
    api = (await sla(service))["services"]["api"]
    assert ((None, None, 0.0), (100.0, 100.0, 0.0)) == (
        (empty["uptime"], empty["coverage"], empty["unobserved_minutes"]),
        (api["uptime"], api["coverage"], api["unobserved_minutes"]))


@pytest.mark.parametrize(("sessions", "window", "expected_gaps"), [
    ([(0, 10), (20, 30)], (0, 30), [(10, 20)]),
    ([(0, 10), (5, 30)], (0, 30), []),
    ([(0, 10), (10, 20)], (0, 25), [(20, 25)]),
    ([(15, 20), (0, 5)], (0, 30), [(5, 15), (20, 30)]),
    ([], (0, 30), [(0, 30)]),
], ids=["a gap between two sessions", "overlapping sessions (two replicas) leave none",
        "touching sessions leave none, the tail after the last is a gap", "sessions in any order",
        "no session: all of it"])
def test_gaps_are_what_no_session_covers(sessions: list[tuple[int, int]], window: tuple[int, int],
                                         expected_gaps: list[tuple[int, int]]) -> None:
    """The uncovered parts of a window are exactly the complement of the union of the sessions."""
    assert expected_gaps == gaps(merged(sessions), *window)


def test_unobserved_time_starts_when_monitoring_began() -> None:
    """Time before monitoring began is not unobserved; after it, every uncovered millisecond is."""
    union = merged([(100, 200), (300, 400)])
    assert (100, 0, 200) == (unobserved(union, 100, 0, 400), unobserved(union, None, 0, 400),
                             unobserved(union, 0, 0, 400))
