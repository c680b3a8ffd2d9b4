"""GET /api/monitoring/sla through the real app: the seed's shape, month-to-date figures from real probes,
breach details, restarts, month ends (February 2028, December to January), bad input and the gauges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.metrics_helpers import value
from tests.support.service import ServiceFactory
from tests.support.sla_helpers import INTERVAL, rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint

SEED_FIELDS = ["services", "overall_uptime", "month_to_date_compliance", "breaches_this_month"]


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def get_sla(service, query: str = "") -> dict:
    async with service.client.get(f"/api/monitoring/sla{query}", headers=await service.headers("acme")) as r:
        assert (200, "application/json") == (r.status, r.content_type)
        return await r.json()


async def test_sla_answers_the_seed_shape_from_real_probes(make_service: ServiceFactory, cache: TcpEndpoint,
                                                           tmp_path: Path) -> None:
    """Five rounds with the cache down twice in a row: 60 % uptime, 20 minutes down, one breach, not compliant."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    await rounds(service, cache, "++--+")
    body = await get_sla(service)
    assert SEED_FIELDS == list(body)[:4]
    assert {"uptime": 60.0, "sla_target": 99.0, "compliant": False, "error_budget_remaining_minutes": 412.0,
            "error_budget_minutes": 432.0, "error_budget_remaining": 0.953704, "burn_rate": 40.0,
            "downtime_minutes": 20.0, "degraded_minutes": 0.0,
            "observed_minutes": 50.0, "unobserved_minutes": 0.0, "coverage": 100.0, "unobserved_policy": "exclude",
            "budgeting_method": "Timeslices", "breaches_this_month": 1, "breaches": None} == body["services"]["cache"]
    assert {"uptime": 100.0, "sla_target": 99.9, "compliant": True, "error_budget_remaining_minutes": 43.2,
            "error_budget_minutes": 43.2, "error_budget_remaining": 1.0, "burn_rate": 0.0,
            "downtime_minutes": 0.0, "degraded_minutes": 0.0,
            "observed_minutes": 50.0, "unobserved_minutes": 0.0, "coverage": 100.0, "unobserved_policy": "exclude",
            "budgeting_method": "Timeslices", "breaches_this_month": 0,
            "breaches": None} == body["services"]["database"]
    assert (["api", "database", "cache"], 86.6667, False, 1, "2026-11", "2026-11-01T00:00:00.000Z",
            "2026-12-01T00:00:00.000Z", "service") == (
        list(body["services"]), body["overall_uptime"], body["month_to_date_compliance"], body["breaches_this_month"],
        body["month"], body["period_start"], body["period_end"], body["source"])


async def test_details_list_each_breach_with_start_end_and_duration(make_service: ServiceFactory,
                                                                    cache: TcpEndpoint, tmp_path: Path) -> None:
    """?details=true lists the breach: from the start of its first failed slice to its last failure, 20 minutes."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    results = await rounds(service, cache, "+--+-")
    failed = [r.at for r in results if r.service == "cache" and not r.success]
    body = await get_sla(service, "?details=true")
    [breach] = body["services"]["cache"]["breaches"]
    started = datetime.fromtimestamp(failed[0] - INTERVAL, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
    ended = datetime.fromtimestamp(failed[1], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert (started, ended, 20.0, False, 2) == (breach["started_at"], breach["ended_at"], breach["duration_minutes"],
                                                breach["ongoing"], breach["failed_probes"])
    assert breach["detail"].startswith("ConnectionRefusedError")
    assert ([], 30.0) == (body["services"]["api"]["breaches"], body["services"]["cache"]["downtime_minutes"])


async def test_the_figures_survive_a_restart(make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path) -> None:
    """A clean stop flushes the batch; the next process on the same database reports the same month."""
    config = sla_config(tmp_path / "config", cache.port)
    first = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(first, cache, "+--+")
    before = await get_sla(first, "?details=true")
    await first.client.close()
    second = await make_service(config_dir=config, instance_id="replica-a")
    after = await get_sla(second, "?details=true")
    assert before["services"] == after["services"]
    assert (50.0, 1) == (after["services"]["cache"]["uptime"], after["breaches_this_month"])


async def test_an_outage_ongoing_at_a_restart_ends_at_its_last_failure(make_service: ServiceFactory,
                                                                       cache: TcpEndpoint, tmp_path: Path) -> None:
    """A breach still open when the process stops is closed at its last failed probe by the next start."""
    config = sla_config(tmp_path / "config", cache.port)
    first = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(first, cache, "+--")
    assert [True] == [b["ongoing"] for b in (await get_sla(first, "?details=true"))["services"]["cache"]["breaches"]]
    await first.client.close()
    second = await make_service(config_dir=config, instance_id="replica-a")
    [breach] = (await get_sla(second, "?details=true"))["services"]["cache"]["breaches"]
    assert (False, 20.0) == (breach["ongoing"], breach["duration_minutes"])


MONTH_ENDS = [
    ("2028-02-29T23:20:00Z", "2028-02", 417.6, "2028-03", 446.4),
    ("2026-12-31T23:20:00Z", "2026-12", 446.4, "2027-01", 446.4),
]


@pytest.mark.parametrize(("start", "before_month", "before_budget", "after_month", "after_budget"), MONTH_ENDS, ids=[
    "the leap day ends February 2028 (29 days: 417.6 min at 99%) and March starts afresh",
    "December ends (31 days) and January starts afresh"])
async def test_a_month_end_starts_a_new_month(make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path,
                                              clock, start: str, before_month: str, before_budget: float,
                                              after_month: str, after_budget: float) -> None:
    """Downtime before midnight stays in the old month; the new month starts with its own budget and data."""
    clock.wall = ts(start)
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    await rounds(service, cache, "+--")  # 23:30 up, 23:40 and 23:50 down
    before = await get_sla(service)
    await rounds(service, cache, "+++")  # 00:00 (its slice is still the old month), 00:10, 00:20 up
    after = await get_sla(service)
    old, new = before["services"]["cache"], after["services"]["cache"]
    assert ((before_month, before_budget, 20.0, 1), (after_month, after_budget, 0.0, 0, 100.0, 20.0)) == (
        (before["month"], old["error_budget_minutes"], old["downtime_minutes"], old["breaches_this_month"]),
        (after["month"], new["error_budget_minutes"], new["downtime_minutes"], new["breaches_this_month"],
         new["uptime"], new["observed_minutes"]))


BAD = [("?details=yes", 400, "invalid-parameter"), ("?source=grafana", 400, "invalid-parameter"),
       ("?source=prometheus", 409, "prometheus-not-configured")]


@pytest.mark.parametrize(("query", "status", "slug"), BAD, ids=[
    "details must be true or false", "source must be service or prometheus",
    "source=prometheus conflicts with a service that has no PROMETHEUS_URL"])
async def test_bad_parameters_are_a_4xx_problem(make_service: ServiceFactory, query: str, status: int,
                                                slug: str) -> None:
    """A bad query parameter is answered 4xx problem+json naming the problem, never a 500."""
    service = await make_service()
    async with service.client.get(f"/api/monitoring/sla{query}", headers=await service.headers("acme")) as r:
        assert (status, "application/problem+json", f"urn:tenant-exporter:problem:{slug}") == (
            r.status, r.content_type, (await r.json())["type"])


async def test_sla_needs_a_token(make_service: ServiceFactory) -> None:
    """Without a bearer token /sla is 401 (any role may read it with one)."""
    service = await make_service()
    async with service.client.get("/api/monitoring/sla") as r:
        assert 401 == r.status


async def test_month_to_date_gauges_are_exported(make_service: ServiceFactory, cache: TcpEndpoint,
                                                 tmp_path: Path) -> None:
    """/metrics carries the target, month-to-date uptime, remaining budget and breaches per service."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    await rounds(service, cache, "++--+")
    service.services.sla.snapshot()
    text = await (await service.client.get("/metrics")).text()
    figures = {name: value(text, name, service="cache") for name in (
        "tenant_exporter_sla_target_ratio", "tenant_exporter_sla_uptime_month_to_date_ratio",
        "tenant_exporter_sla_error_budget_remaining_seconds", "tenant_exporter_sla_breaches_month_to_date",
        "tenant_exporter_sla_breaches_total", "tenant_exporter_probes_total",
        "tenant_exporter_probe_failures_total", "tenant_exporter_probe_downtime_seconds_total")}
    assert {"tenant_exporter_sla_target_ratio": 0.99, "tenant_exporter_sla_uptime_month_to_date_ratio": 0.6,
            "tenant_exporter_sla_error_budget_remaining_seconds": 24_720.0,
            "tenant_exporter_sla_breaches_month_to_date": 1.0, "tenant_exporter_sla_breaches_total": 1.0,
            "tenant_exporter_probes_total": 5.0, "tenant_exporter_probe_failures_total": 2.0,
            "tenant_exporter_probe_downtime_seconds_total": 1200.0} == figures
    assert pytest.approx(24_720 / 25_920) == value(text, "tenant_exporter_sla_error_budget_remaining_ratio",
                                                   service="cache")
