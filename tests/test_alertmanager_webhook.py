"""POST /-/alertmanager/webhook: Alertmanager's version 4 notifications, validated, counted, kept and listed.

(The real Alertmanager posting here is in test_e2e_alertmanager.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.service import Service, ServiceFactory

URL = "/-/alertmanager/webhook"


def alert(name: str, severity: str | None, status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": name, "instance": "api-1:8000"}
    if severity is not None:
        labels["severity"] = severity
    return {"status": status, "labels": labels, "annotations": {"summary": f"{name} summary"},
            "startsAt": "2026-11-18T10:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": "8d4a2b6f1c3e5a70"}


def notification(*alerts: dict[str, Any], status: str = "firing", version: str = "4", **extra: Any) -> dict[str, Any]:
    """A notification as Alertmanager 0.25+ sends it (0.34's ``notification_reason`` included)."""
    return {"receiver": "page", "status": status, "alerts": list(alerts),
            "groupLabels": {"alertname": alerts[0]["labels"]["alertname"] if alerts else ""},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "version": version, "groupKey": '{}/{severity=~"critical|error"}:{alertname="X"}', "truncatedAlerts": 0,
            "notification_reason": "new_alerts", **extra}


def counted(service: Service, status: str, severity: str) -> float | None:
    return service.registry.get_sample_value("tenant_exporter_alertmanager_notifications_total",
                                             {"status": status, "severity": severity})


async def listed(service: Service, limit: int = 100) -> list[dict[str, Any]]:
    headers = await service.headers("acme", "operator")
    async with service.client.get(f"/api/monitoring/alertmanager/notifications?limit={limit}", headers=headers) as r:
        assert 200 == r.status
        return list((await r.json())["notifications"])


async def test_a_notification_is_counted_by_status_and_highest_severity_and_kept(service: Service) -> None:
    """A firing group with a warning and a critical alert counts once as critical and is listed as received."""
    body = notification(alert("ApiBurn", "warning"), alert("ApiBurn", "critical"))
    async with service.client.post(URL, json=body) as r:
        assert (200, {"received": True, "alerts": 2, "severity": "critical"}) == (r.status, await r.json())
    assert (1.0, 0.0) == (counted(service, "firing", "critical"), counted(service, "firing", "warning"))
    [kept] = await listed(service)
    assert ("page", "firing", "critical", ["warning", "critical"], "0001-01-01T00:00:00Z") \
        == (kept["receiver"], kept["status"], kept["severity"], [a["labels"]["severity"] for a in kept["alerts"]],
            kept["alerts"][0]["endsAt"])


@pytest.mark.parametrize(("severities", "status", "expected"), [
    (["error"], "resolved", ("resolved", "error")),
    ([None], "firing", ("firing", "none")),
    (["page-the-world"], "firing", ("firing", "other")),
    (["info", "WARNING"], "firing", ("firing", "warning")),
], ids=["a resolved error counts as resolved/error", "no severity label counts as none",
        "an unknown severity counts as other, never as a new label value", "severity is compared case-blind"])
async def test_severity_labels_are_bounded(service: Service, severities: list[str | None], status: str,
                                           expected: tuple[str, str]) -> None:
    """Whatever severity Alertmanager sends, the metric's labels stay in a fixed set."""
    body = notification(*(alert("X", s, status) for s in severities), status=status)
    async with service.client.post(URL, json=body) as r:
        assert 200 == r.status
    assert 1.0 == counted(service, *expected)


@pytest.mark.parametrize(("body", "status", "slug"), [
    (notification(alert("X", "error"), version="3"), 422, "validation-failed"),
    ({"version": "4", "status": "firing"}, 422, "validation-failed"),
    (notification(alert("X", "error"), status="pending"), 422, "validation-failed"),
    (notification({**alert("X", "error"), "startsAt": "yesterday"}), 422, "validation-failed"),
    ("{not json", 400, "malformed-json"),
], ids=["version 3 is refused", "missing fields are refused", "an unknown group status is refused",
        "a time that is not RFC 3339 is refused", "malformed JSON is a 400"])
async def test_bad_notifications_are_problems_and_not_counted(service: Service, body: Any, status: int,
                                                              slug: str) -> None:
    """A body that is not a version 4 notification gets a problem+json 4xx and counts nothing."""
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) \
        else {"json": body}
    async with service.client.post(URL, **kwargs) as r:
        problem = await r.json()
        assert (status, "application/problem+json", f"urn:tenant-exporter:problem:{slug}") \
            == (r.status, r.content_type, problem["type"])
    assert [] == await listed(service)


async def test_the_bearer_token_is_required_when_set(make_service: ServiceFactory) -> None:
    """With ALERTMANAGER_WEBHOOK_TOKEN set, a notification without the token (or with another) gets 401."""
    service = await make_service(alertmanager_webhook_token="a-long-webhook-secret")
    body = notification(alert("X", "error"))
    async with service.client.post(URL, json=body) as r:
        assert (401, 'Bearer realm="tenant-exporter"') == (r.status, r.headers["WWW-Authenticate"])
    async with service.client.post(URL, json=body, headers={"Authorization": "Bearer wrong"}) as r:
        assert 401 == r.status
    async with service.client.post(URL, json=body, headers={"Authorization": "Bearer a-long-webhook-secret"}) as r:
        assert 200 == r.status
    assert 1.0 == counted(service, "firing", "error")


async def test_only_the_last_n_notifications_are_kept_newest_first(make_service: ServiceFactory) -> None:
    """ALERTMANAGER_WEBHOOK_HISTORY bounds what is kept; the list is newest first and honours limit."""
    service = await make_service(alertmanager_webhook_history=3)
    for i in range(5):
        async with service.client.post(URL, json=notification(alert(f"A{i}", "warning"))) as r:
            assert 200 == r.status
    assert [["A4"], ["A3"], ["A2"]] == [[a["labels"]["alertname"] for a in n["alerts"]] for n in await listed(service)]
    assert ["A4"] == [n["alerts"][0]["labels"]["alertname"] for n in await listed(service, limit=1)]
    assert 5.0 == counted(service, "firing", "warning")


async def test_the_notification_list_is_for_operators(service: Service) -> None:
    """An admin of a tenant may not read the platform's notifications; a bad limit is a 400."""
    async with service.client.get("/api/monitoring/alertmanager/notifications",
                                  headers=await service.headers("acme", "admin")) as r:
        assert 403 == r.status
    async with service.client.get("/api/monitoring/alertmanager/notifications?limit=0",
                                  headers=await service.headers("acme", "operator")) as r:
        assert (400, "urn:tenant-exporter:problem:invalid-parameter") == (r.status, (await r.json())["type"])
