"""Custom-metric submissions reach the audit log summarised: one event per key and interval."""

from __future__ import annotations

from tests.support.service import Service, ServiceFactory

URL = "/api/monitoring/metrics/custom"


async def audit_events(service: Service, action: str) -> list[dict]:
    headers = await service.headers("acme", "admin")
    async with service.client.get("/api/audit-logs/search", params={"action": action}, headers=headers) as r:
        assert 200 == r.status
        return list((await r.json())["data"])


async def test_many_samples_become_one_summary_event(service: Service) -> None:
    """Fifty accepted samples and three refused ones from one key are one audit event with the counts."""
    headers = await service.headers("acme", "service")
    for i in range(50):
        async with service.client.post(URL, json={"name": f"queue_depth_{i % 3}", "value": i}, headers=headers) as r:
            assert 200 == r.status
    for body in ({"name": "bad-name", "value": 1}, {"name": "x_total", "value": 1}, {"value": 1}):
        async with service.client.post(URL, json=body, headers=headers) as r:
            assert 400 <= r.status < 500
    assert [] == await audit_events(service, "metric.custom.submit")  # nothing per sample
    await service.services.custom_digest.flush()
    [event] = await audit_events(service, "metric.custom.submit")
    details = event["details"]
    assert (50, {"invalid_body": 2, "reserved_name": 1}) == (details["samples_accepted"], details["samples_refused"])
    assert ["queue_depth_0", "queue_depth_1", "queue_depth_2"] == details["metrics"]
    assert ("api_key", "service", "success") == (event["actor"]["type"], event["actor"]["role"],
                                                event["outcome"]["status"])


async def test_the_summary_is_committed_at_shutdown(make_service: ServiceFactory) -> None:
    """Samples noted just before a clean shutdown are summarised in the log after it."""
    service = await make_service()
    headers = await service.headers("acme", "service")
    async with service.client.post(URL, json={"name": "late_metric", "value": 1}, headers=headers) as r:
        assert 200 == r.status
    await service.client.close()
    again = await make_service()
    [event] = await audit_events(again, "metric.custom.submit")
    assert 1 == event["details"]["samples_accepted"]
