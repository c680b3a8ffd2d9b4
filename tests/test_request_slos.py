"""Request and latency SLOs: an error burst spends the budget in /sla (and survives a restart), tenants get their
own figures, no traffic is never NaN, and the in-process figures equal what the generated rules record for the
same counters under promtool (the burst that fires ErrorRateHigh pages on the request SLO too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from exporter.monitoring.config import load_monitoring
from exporter.monitoring.signals import LATENCY_BOUNDS
from exporter.rulegen.prometheus import generate
from exporter.sla.request_slos import RequestSloTracker
from exporter.store import open_store
from tests.support import promtool
from tests.support.helpers import TWO_TENANTS, FakeClock, make_config_dir
from tests.support.service import Service, ServiceFactory

PER_TENANT = """
slos:
  - {name: requests, sli: requests, objective: 99.5%, per_tenant: true}
  - {name: latency, sli: latency, threshold: 500ms, objective: 99%}
"""


def with_slos(tmp_path: Path, slos: str) -> Path:
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS)
    text = (config / "monitoring.yml").read_text()
    start = text.index("\nslos:")
    end = text.index("\ncustom_metrics:")
    (config / "monitoring.yml").write_text(text[:start] + slos + text[end:])
    return config


async def slos(service: Service) -> dict[str, Any]:
    async with service.client.get("/api/monitoring/sla", headers=await service.headers("acme")) as r:
        assert 200 == r.status
        return dict((await r.json())["slos"])


async def send(service: Service, path: str, times: int, headers: dict[str, str] | None = None) -> None:
    for _ in range(times):
        async with service.client.get(path, headers=headers) as r:
            await r.read()


async def test_an_error_burst_spends_the_request_budget_and_a_restart_loses_none_of_it(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """100 answered requests, 20 answered 503 and 3 slower than 500 ms: the request SLO (99.5 %) has spent 32.5
    times its pace, the latency SLO (99 %) 2.44 times; a clean restart right after shows the same counts."""
    config = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS)
    first = await make_service(config_dir=config, enable_test_routes=True)
    await send(first, "/-/ready", 100)
    await send(first, "/-/test/status/503", 20)
    await send(first, "/-/test/sleep?seconds=0.6", 3)
    await first.client.close()  # no flush before: the clean stop writes the counts
    second = await make_service(config_dir=config)
    shown = await slos(second)
    requests, latency = shown["api-requests"], shown["api-latency"]
    assert ({"valid_requests": 123, "bad_requests": 20, "attainment": 83.7398, "compliant": False,
             "error_budget_requests": 0.615, "error_budget_used_requests": 20,
             "error_budget_remaining_requests": -19.385, "error_budget_remaining": -31.520325,
             "burn_rate": 32.520325}, "Occurrences", 99.5, "requests") == (
        requests["month_to_date"], requests["budgeting_method"], requests["objective"], requests["sli"])
    assert (123, 3, 2.439024, 500.0, None) == (
        latency["month_to_date"]["valid_requests"], latency["month_to_date"]["bad_requests"],
        latency["month_to_date"]["burn_rate"], latency["threshold_ms"], latency["tenants"])


async def test_a_per_tenant_slo_gives_each_tenant_its_own_figures(make_service: ServiceFactory,
                                                                  tmp_path: Path) -> None:
    """acme's 6 and globex's 3 requests succeed; the 4 unauthenticated 503s are tenant `none`'s: acme and globex
    are at 100 %, `none` at 0 %, and the SLO as a whole counts all 13."""
    service = await make_service(config_dir=with_slos(tmp_path, PER_TENANT), enable_test_routes=True)
    await send(service, "/api/tenant/config", 6, await service.headers("acme"))
    await send(service, "/api/tenant/config", 3, await service.headers("globex"))
    await send(service, "/-/test/status/503", 4)
    await service.services.request_slos.flush()
    requests = (await slos(service))["api-requests"]
    assert {"acme": (6, 0, 100.0, True), "globex": (3, 0, 100.0, True), "none": (4, 4, 0.0, False)} == {
        t: (f["valid_requests"], f["bad_requests"], f["attainment"], f["compliant"])
        for t, f in requests["tenants"].items()}
    assert (13, 4) == (requests["month_to_date"]["valid_requests"], requests["month_to_date"]["bad_requests"])


async def test_without_traffic_nothing_is_nan(make_service: ServiceFactory) -> None:
    """Before any request an SLO has no attainment (null), its whole budget left (1) and a burn rate of 0."""
    service = await make_service()
    shown = await slos(service)
    assert {"valid_requests": 0, "bad_requests": 0, "attainment": None, "compliant": None, "error_budget_requests": 0.0,
            "error_budget_used_requests": 0, "error_budget_remaining_requests": 0.0, "error_budget_remaining": 1.0,
            "burn_rate": 0.0} == shown["api-requests"]["month_to_date"]


def test_a_latency_threshold_off_the_histogram_is_refused_with_file_and_line(tmp_path: Path) -> None:
    """A latency threshold that is not a bucket bound (300 ms) is a config error naming the file, line and field."""
    from exporter.core.errors import ConfigError

    config = with_slos(tmp_path, "\nslos:\n  - {name: latency, sli: latency, threshold: 300ms, objective: 99%}\n")
    with pytest.raises(ConfigError) as caught:
        load_monitoring(config)
    [issue] = caught.value.issues
    assert ("slos[0].threshold", True) == (issue.field, "bound of the request-duration histogram" in issue.message)
    assert issue.line is not None and issue.file.endswith("monitoring.yml")


# --- the same counters, in-process and under promtool ------------------------------------------------------------
MINUTES = 120
BURST = range(30, 45)  # 20 % of requests fail with a 503, and 5 % are slow, in these minutes
SERIES = 'job="tenant-exporter",instance="127.0.0.1:8000"'


def per_minute(minute: int) -> list[tuple[str, str, int, float]]:
    """(status, tenant, count, seconds) of the requests answered in ``minute``."""
    if minute in BURST:
        return [("200", "acme", 36, 0.02), ("200", "globex", 4, 0.6), ("503", "acme", 8, 0.01),
                ("503", "globex", 2, 0.01)]
    return [("200", "acme", 45, 0.02), ("200", "globex", 15, 0.02)]


def input_series() -> list[dict[str, str]]:
    counts: dict[str, list[int]] = {}
    buckets: dict[str, list[int]] = {}
    for minute in range(MINUTES + 1):
        for status, tenant, n, seconds in (per_minute(minute) if minute else []):
            key = f'http_requests_total{{method="GET",route="/r",status="{status}",tenant="{tenant}",{SERIES}}}'
            counts.setdefault(key, [0] * (MINUTES + 1))[minute] += n
            for le in (*LATENCY_BOUNDS, float("inf")):
                if seconds <= le:
                    name = "+Inf" if le == float("inf") else repr(le)
                    bucket = f'http_request_duration_seconds_bucket{{method="GET",route="/r",le="{name}",{SERIES}}}'
                    buckets.setdefault(bucket, [0] * (MINUTES + 1))[minute] += n
    for bucket in list(buckets):
        if bucket.endswith(f'le="+Inf",{SERIES}}}'):
            buckets[bucket.replace("_bucket{", "_count{").replace('le="+Inf",', "")] = buckets[bucket]
    out = []
    for key, values in {**counts, **buckets}.items():
        total, cumulative = 0, []
        for v in values:
            total += v
            cumulative.append(str(total))
        out.append({"series": key, "values": " ".join(cumulative)})
    return out


async def in_process(config_dir: Path, tmp_path: Path) -> dict[tuple[str, str | None], Any]:
    """The same minutes replayed into real client families, read by the tracker every minute."""
    registry, clock = CollectorRegistry(), FakeClock()
    requests = Counter("http_requests", "Requests.", ["method", "route", "status", "tenant"], registry=registry)
    duration = Histogram("http_request_duration_seconds", "Durations.", ["method", "route"], buckets=LATENCY_BOUNDS,
                         registry=registry)
    monitoring = load_monitoring(config_dir)
    store = await open_store(f"sqlite:///{tmp_path}/agree.db")
    tracker = RequestSloTracker(registry, store, clock, lambda: monitoring, "a", flush_interval=60)
    for minute in range(1, MINUTES + 1):
        for status, tenant, n, seconds in per_minute(minute):
            requests.labels("GET", "/r", status, tenant).inc(n)
            for _ in range(n):
                duration.labels("GET", "/r").observe(seconds)
        clock.advance(60)
        tracker.take()
    await store.close()
    return {(total.slo.id, None): total for total, _ in tracker.figures()} | {
        (t.slo.id, t.tenant): t for _, tenants in tracker.figures() for t in tenants}


@pytest.mark.promtool
@pytest.mark.parametrize("slos_yaml", [None, PER_TENANT], ids=[
    "the shipped SLOs (requests 99.5 %, latency 500 ms 99 %)", "a per-tenant request SLO, tenant by tenant"])
async def test_in_process_figures_equal_the_recorded_rules_and_the_burst_pages(tmp_path: Path,
                                                                                slos_yaml: str | None) -> None:
    """After two hours with a 15-minute burst, promtool records the same period error ratio, burn rate and
    remaining budget as the in-process figures (exactly: both divide the same counts), ErrorRateHigh fires during
    the burst, and the request SLO's page-1h tier fires with it."""
    config = with_slos(tmp_path, slos_yaml) if slos_yaml else make_config_dir(tmp_path / "config")
    generate(load_monitoring(config), tmp_path / "rules")
    figures = await in_process(config, tmp_path)
    exprs, at = [], f"{MINUTES}m"
    for (slo_id, tenant), f in figures.items():
        if f.slo.per_tenant != (tenant is not None):
            continue  # a per-tenant SLO is recorded tenant by tenant, the others as a whole
        match = f'sloth_id="{slo_id}"' + ("" if tenant is None else f',tenant="{tenant}"')
        labels = f'{match},sloth_service="api",sloth_slo="{f.slo.name}",sloth_window="30d"'
        exprs += [promtool.expect(f"{record}{{{match}}}", at, value, labels=f"{record}{{{labels}}}")
                  for record, value in (("slo:sli_error:ratio_rate30d", f.error_ratio),
                                        ("slo:period_burn_rate:ratio", f.burn_rate),
                                        ("slo:period_error_budget_remaining:ratio", f.remaining_ratio))]
    exprs += [promtool.expect('count(ALERTS{alertname="ErrorRateHigh",alertstate="firing"})', "40m", 1),
              promtool.expect('count(ALERTS{alertname="ApiRequestsBudgetBurn",alertstate="firing",'
                              'sloth_severity="page"}) > bool 0', "40m", 1)]
    result = promtool.test_rules(tmp_path / "agree_test.yml", {
        "rule_files": [str(tmp_path / "rules" / "tenant-exporter.yml"), str(tmp_path / "rules" / "slo.yml")],
        "evaluation_interval": "1m",
        "tests": [{"name": "burst", "interval": "1m", "input_series": input_series(), "promql_expr_test": exprs}],
    })
    assert 0 == result.returncode, result.stdout[-4000:] + result.stderr[-2000:]
    assert figures[("api-requests", None)].burn_rate > 1  # the burst spent budget in-process too
