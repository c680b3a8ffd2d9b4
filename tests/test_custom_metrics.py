"""POST /api/monitoring/metrics/custom: the seed's body and answer; exported with tags as labels; bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.monitoring import PROBE_RULES, config_with
from tests.support.service import Service, ServiceFactory

URL = "/api/monitoring/metrics/custom"


def exported(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every tenant_exporter_custom_* sample, parsed from the text exposition."""
    text = generate_latest(service.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("tenant_exporter_custom_") and not s.name.startswith("tenant_exporter_custom_s")}


def rejected(service: Service, tenant: str, reason: str) -> float:
    value = service.registry.get_sample_value("tenant_exporter_custom_samples_rejected_total",
                                              {"tenant": tenant, "reason": reason})
    return value or 0.0


async def test_the_seed_example_is_recorded_and_exported(make_service: ServiceFactory) -> None:
    """The seed's body, verbatim (its 2024 timestamp included), gets the seed's answer, and /metrics shows
    the value with its tags and the tenant."""
    service = await make_service()
    now = "2024-03-15T10:30:00Z"
    body = {"name": "case_processing_time", "value": 234, "tags": {"case_type": "fraud"}, "timestamp": now}
    async with service.client.post(URL, json=body, headers=await service.headers("acme", "service")) as r:
        answer = await r.json()
        assert 200 == r.status
    assert {"recorded": True, "metric": "case_processing_time", "value": 234, "timestamp": now} \
        == {k: answer[k] for k in ("recorded", "metric", "value", "timestamp")}
    assert ["recorded", "metric", "value", "timestamp"] == list(answer)[:4]
    assert ("tenant_exporter_custom_case_processing_time", "acme") == (answer["exported_as"], answer["tenant"])
    assert {("tenant_exporter_custom_case_processing_time", (("case_type", "fraud"), ("tenant", "acme"))): 234.0} \
        == exported(service)


async def test_roles_service_and_admin_may_post_viewers_may_not(make_service: ServiceFactory) -> None:
    """Service and admin keys record custom metrics; a viewer key gets 403."""
    service = await make_service()
    body = {"name": "queue_depth", "value": 3}
    for role, status in (("service", 200), ("admin", 200), ("viewer", 403)):
        async with service.client.post(URL, json=body, headers=await service.headers("globex", role)) as r:
            assert (role, status) == (role, r.status)


def rfc3339(ts: float) -> str:
    """Seconds-precision RFC 3339 in UTC, as the seed writes timestamps."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


BAD = [  # body, status, reason counted, JSON pointer in the problem
    ({"name": "case-time", "value": 1}, 422, "invalid_body", "#/name"),
    ({"name": "ns:metric", "value": 1}, 422, "invalid_body", "#/name"),
    ({"name": "x" * 101, "value": 1}, 422, "invalid_body", "#/name"),
    ({"name": "requests_total", "value": 1}, 409, "reserved_name", "#/name"),
    ({"name": "series_limit", "value": 1}, 409, "reserved_name", "#/name"),
    ({"name": "ok", "value": 1, "tags": {"tenant": "globex"}}, 409, "reserved_label", "#/tags/tenant"),
    ({"name": "ok", "value": 1, "tags": {"__name__": "up"}}, 409, "reserved_label", "#/tags/__name__"),
    ({"name": "ok", "value": 1, "tags": {"case-type": "a"}}, 422, "invalid_body", "#"),  # msgspec: a key
    ({"name": "ok", "value": 1, "tags": {f"t{i}": "v" for i in range(17)}}, 422, "invalid_body", "#/tags"),
    ({"name": "ok", "value": 1, "tags": {f"t{i}": "v" * 200 for i in range(6)}}, 422, "invalid_labels", "#/tags"),
    ({"name": "ok", "value": 1, "timestamp": "2026-11-18T10:00:00"}, 422, "invalid_body", "#/timestamp"),
    ({"name": "ok", "value": 1, "timestamp": "yesterday"}, 422, "invalid_body", "#/timestamp"),
    ({"name": "ok", "value": 1, "timestamp": "2010-03-15T10:30:00Z"}, 422, "invalid_timestamp", "#/timestamp"),
    ({"name": "ok", "value": 1, "timestamp": "2030-01-01T00:00:00Z"}, 422, "invalid_timestamp", "#/timestamp"),
    ({"name": "ok", "value": "234"}, 422, "invalid_body", "#/value"),
    ({"name": "ok"}, 422, "invalid_body", "#"),
    ({"name": "ok", "value": 1, "unit": "ms"}, 422, "invalid_body", "#"),
]


@pytest.mark.parametrize(("body", "status", "reason", "pointer"), BAD,
                         ids=[f"{st} {r} at {p}: {str(b)[:50]}" for b, st, r, p in BAD])
async def test_bad_samples_are_refused_with_a_pointer_and_counted(
    make_service: ServiceFactory, body: dict, status: int, reason: str, pointer: str
) -> None:
    """An unusable name, tag, value or timestamp is a 422 (a name or label that collides, a 409) naming
    the field, and is counted as a rejected sample; nothing is exported."""
    service = await make_service()
    async with service.client.post(URL, json=body, headers=await service.headers("acme", "service")) as r:
        problem = await r.json()
    assert (status, "application/problem+json") == (r.status, r.content_type)
    assert pointer in [e["pointer"] for e in problem.get("errors", [])] or pointer == "#", problem
    assert (1.0, {}) == (rejected(service, "acme", reason), exported(service))


async def test_infinite_values_are_refused(make_service: ServiceFactory) -> None:
    """A value that decodes to infinity (1e999) is refused: values must be finite."""
    service = await make_service()
    raw = b'{"name": "ok", "value": 1e999}'
    headers = {**await service.headers("acme", "service"), "Content-Type": "application/json"}
    async with service.client.post(URL, data=raw, headers=headers) as r:
        assert 422 == r.status
    assert 1.0 == rejected(service, "acme", "invalid_value") + rejected(service, "acme", "invalid_body")


async def test_series_cap_per_tenant_429_existing_series_update_and_expiry_frees_room(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """Past max_series_per_tenant a new series gets 429 (counted); known series update; idle series expire."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))  # 3 per tenant, 5 in total
    acme, globex = await service.headers("acme", "service"), await service.headers("globex", "service")

    async def post(headers: dict[str, str], tag: str, value: float = 1) -> tuple[int, dict[str, str]]:
        async with service.client.post(URL, json={"name": "jobs", "value": value, "tags": {"job_id": tag}},
                                       headers=headers) as r:
            return r.status, dict(r.headers)

    assert [200, 200, 200] == [(await post(acme, f"a{i}"))[0] for i in range(3)]
    status, headers = await post(acme, "a3")
    assert (429, "600") == (status, headers["Retry-After"])
    assert (200, 1.0) == ((await post(acme, "a1", 7))[0], rejected(service, "acme", "series_limit"))
    assert [200, 200] == [(await post(globex, f"g{i}"))[0] for i in range(2)]
    assert 429 == (await post(globex, "g2"))[0]  # 5 series in total: the service-wide cap
    assert 7.0 == exported(service)[("tenant_exporter_custom_jobs", (("job_id", "a1"), ("tenant", "acme")))]
    service.clock.advance(601)  # every series has been idle for longer than series_ttl (10m)
    assert 200 == (await post(acme, "a3"))[0]
    assert 1.0 == service.registry.get_sample_value("tenant_exporter_custom_series", {"tenant": "acme"})
    assert [200, 200, 429] == [(await post(acme, f"b{i}"))[0] for i in range(3)]  # full again
    service.clock.advance(601)  # and the new series expire too
    assert 200 == (await post(acme, "b2"))[0]


async def test_out_of_order_samples_are_refused(make_service: ServiceFactory) -> None:
    """A sample older than the series' latest is a 409, not a silent overwrite."""
    service = await make_service()
    headers = await service.headers("acme", "service")
    newer, older = rfc3339(service.clock.now()), rfc3339(service.clock.now() - 60)
    async with service.client.post(URL, json={"name": "q", "value": 2, "timestamp": newer}, headers=headers) as r:
        assert 200 == r.status
    async with service.client.post(URL, json={"name": "q", "value": 1, "timestamp": older}, headers=headers) as r:
        assert (409, "urn:tenant-exporter:problem:out-of-order") == (r.status, (await r.json())["type"])
    assert (1.0, 2.0) == (rejected(service, "acme", "out_of_order"),
                          exported(service)[("tenant_exporter_custom_q", (("tenant", "acme"),))])
