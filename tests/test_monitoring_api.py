"""/api/monitoring/health, /alerts and acknowledgements, through the real app on loopback."""

from __future__ import annotations

from pathlib import Path

from tests.support.audit_helpers import search
from tests.support.monitoring import PROBE_RULES, config_with, replica_labels, tick
from tests.support.service import ServiceFactory

SEED_HEALTH_FIELDS = ["status", "response_time", "error_rate", "uptime", "active_users", "cpu_usage", "memory_usage",
                      "alerts", "timestamp"]


async def test_health_has_every_seed_field_and_no_invented_numbers(make_service: ServiceFactory) -> None:
    """Before any data the health answer has the seed's fields, `healthy`, and null (not zero) figures."""
    service = await make_service()
    async with service.client.get("/api/monitoring/health", headers=await service.headers("acme")) as r:
        body = await r.json()
        assert (200, "application/json") == (r.status, r.content_type)
    assert SEED_HEALTH_FIELDS == list(body)[:len(SEED_HEALTH_FIELDS)]
    assert ("healthy", [], None, None, None) == (body["status"], body["alerts"], body["response_time"],
                                                 body["error_rate"], body["uptime"])
    assert body["timestamp"].endswith("Z") and 300.0 == body["window_seconds"]


async def test_the_real_self_probe_reaches_the_listener_and_reports_failure(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """The API probe GETs /-/ready on the service's own port (success), and fails against a closed port."""
    service = await make_service()
    result = {r.service: r for r in await service.services.probes.run_once()}["api"]
    assert (True, "HTTP 200") == (result.success, result.detail)
    assert 1.0 == service.registry.get_sample_value("tenant_exporter_probe_success", {"service": "api"})
    await tick(service)
    async with service.client.get("/api/monitoring/health", headers=await service.headers("acme")) as r:
        assert 100.0 == (await r.json())["uptime"]
    closed = await make_service(probe_api_url="http://127.0.0.1:9/-/ready",
                                config_dir=config_with(tmp_path, PROBE_RULES))
    failed = {r.service: r for r in await closed.services.probes.run_once()}["api"]
    assert (False, 0.0) == (failed.success, closed.registry.get_sample_value("tenant_exporter_probe_success",
                                                                             {"service": "api"}))


async def test_health_goes_degraded_then_unhealthy_then_healthy(make_service: ServiceFactory, tmp_path: Path) -> None:
    """A firing warning makes health degraded, a firing error unhealthy; both resolve when probes recover."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    headers = await service.headers("acme")

    async def health() -> dict:
        async with service.client.get("/api/monitoring/health", headers=headers) as r:
            return await r.json()

    await tick(service, probe=True)
    assert ("healthy", 100.0) == ((h := await health())["status"], h["uptime"])
    await tick(service, probe=False)  # 1 of 2 probes failed: 50 % is below 100 %, not below 50 %
    h = await health()
    assert ("degraded", 50.0) == (h["status"], h["uptime"])
    assert [{"severity": "warning", "message": "Some API probes fail: 50%", "threshold": 100,
             "alertname": "UptimeDegraded", "state": "firing", "value": 50, "unit": "%",
             "runbook_url": "https://runbooks.example.com/uptime", "acknowledged": False}] \
        == [{k: a[k] for k in ("severity", "message", "threshold", "alertname", "state", "value", "unit",
                               "runbook_url", "acknowledged")} for a in h["alerts"]]
    await tick(service, probe=False)  # 1 of 3: below 50 %, pending for 1m
    assert "degraded" == (await health())["status"]
    await tick(service, probe=False, times=4)
    h = await health()
    assert ("unhealthy", ["error", "warning"]) == (h["status"], [a["severity"] for a in h["alerts"]])
    assert "Most API probes fail: 14.29%" == h["alerts"][0]["message"]
    await tick(service, probe=True, times=21)  # the failures leave the 5 m window
    assert ("healthy", [], 100.0) == ((h := await health())["status"], h["alerts"], h["uptime"])


async def test_alerts_list_and_acknowledge_until_resolved(make_service: ServiceFactory, tmp_path: Path) -> None:
    """An operator acknowledges a platform alert (idempotently, audited once in the platform's log); tenant keys
    may not, and see only that it is acknowledged; the acknowledgement shows until the alert resolves."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    viewer, admin = await service.headers("acme"), await service.headers("acme", "admin")
    operator = await service.headers("globex", "operator")
    await tick(service, probe=True)
    await tick(service, probe=False, times=2)
    async with service.client.get("/api/monitoring/alerts", headers=viewer) as r:
        alerts = (await r.json())["alerts"]
    assert [("UptimeDown", "pending", 33.33, 50, "<"), ("UptimeDegraded", "firing", 33.33, 100, "<")] \
        == [(a["rule"], a["state"], a["value"], a["threshold"], a["operator"]) for a in alerts]
    down = alerts[0]
    assert ({"alertname": "UptimeDown", "severity": "error", "signal": "uptime", "service": "api",
             **replica_labels(service)}, False, None) == (down["labels"], down["acknowledged"], down["acknowledgement"])

    url = f"/api/monitoring/alerts/acknowledge/{down['id']}"
    for tenant_key in (viewer, admin):
        async with service.client.post(url, json={"comment": "mine"}, headers=tenant_key) as r:
            assert (403, "urn:tenant-exporter:problem:insufficient-role") == (r.status, (await r.json())["type"])
    async with service.client.post(url, json={"comment": "on it"}, headers=operator) as r:
        first = await r.json()
        assert 200 == r.status
    async with service.client.post(url, json={"comment": "me too"}, headers=operator) as r:
        again = await r.json()
    assert first == again
    events = await search(service, operator, action="alert.acknowledge", tenant="_platform")  # audited once
    assert [("alert", down["id"], "UptimeDown", "on it", "globex-operator")] == [
        (e["target"]["type"], e["target"]["id"], e["target"]["name"], e["details"]["comment"], e["actor"]["name"])
        for e in events]
    assert (True, "globex-operator", "on it", "globex") == (first["acknowledged"],
                                                           first["acknowledgement"]["acknowledged_by"],
                                                           first["acknowledgement"]["comment"],
                                                           first["acknowledgement"]["tenant_id"])
    async with service.client.get("/api/monitoring/alerts", headers=admin) as r:
        seen_by_tenant = (await r.json())["alerts"][0]
    assert (down["id"], True, None) == (seen_by_tenant["id"], seen_by_tenant["acknowledged"],
                                        seen_by_tenant["acknowledgement"])
    async with service.client.post("/api/monitoring/alerts/acknowledge/0123456789abcdef", headers=operator) as r:
        assert (404, "urn:tenant-exporter:problem:unknown-alert") == (r.status, (await r.json())["type"])

    await tick(service, probe=False, times=4)
    async with service.client.get("/api/monitoring/health", headers=viewer) as r:
        assert [True, False] == [a["acknowledged"] for a in (await r.json())["alerts"]]
    await tick(service, probe=True, times=21)
    async with service.client.post(url, headers=operator) as r:
        assert 404 == r.status  # resolved: nothing to acknowledge
    async with service.client.get("/api/monitoring/alerts?include_resolved=true", headers=operator) as r:
        resolved = {a["rule"]: a for a in (await r.json())["alerts"]}
    assert ("resolved", False, None) == (resolved["UptimeDown"]["state"], resolved["UptimeDown"]["acknowledged"],
                                         resolved["UptimeDown"]["acknowledgement"])
    assert [] == await service.services.store.open_acknowledgements()
    await tick(service, probe=False, times=12)  # 12 of 21 fail: a new episode of the same alert, unacknowledged
    async with service.client.get("/api/monitoring/alerts", headers=operator) as r:
        again_down = (await r.json())["alerts"][0]
    assert (down["id"], "pending", None) == (again_down["id"], again_down["state"], again_down["acknowledgement"])


async def test_alert_state_is_exported(make_service: ServiceFactory, tmp_path: Path) -> None:
    """tenant_exporter_alert_state{alertname,severity,state} counts the in-process alerts by state."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    await tick(service, probe=False, times=2)

    def state(name: str, severity: str, kind: str) -> float | None:
        return service.registry.get_sample_value("tenant_exporter_alert_state",
                                                 {"alertname": name, "severity": severity, "state": kind})

    assert (1.0, 0.0, 1.0, 0.0) == (state("UptimeDown", "error", "pending"), state("UptimeDown", "error", "firing"),
                                    state("UptimeDegraded", "warning", "firing"),
                                    state("UptimeDegraded", "warning", "pending"))


async def test_active_users_are_distinct_keys_in_the_window_per_tenant(make_service: ServiceFactory) -> None:
    """Two keys of acme and one of globex: acme sees 2, globex 1, an operator all 4 (itself included, as
    every caller counts from its own request on); after the window only the caller."""
    service = await make_service()
    acme_a, acme_b = await service.headers("acme"), await service.headers("acme", "admin")
    globex, operator = await service.headers("globex"), await service.headers("acme", "operator")
    for headers in (acme_a, acme_a, acme_b, globex):
        async with service.client.get("/api/tenant/limits", headers=headers) as r:
            assert 200 == r.status

    async def users(headers: dict[str, str]) -> int:
        async with service.client.get("/api/monitoring/health", headers=headers) as r:
            return int((await r.json())["active_users"])

    assert (2, 2, 1) == (await users(acme_a), await users(acme_b), await users(globex))
    assert 4 == await users(operator)  # every tenant's keys, the operator's own too
    service.clock.advance(301)
    assert 1 == await users(globex)  # the others are out of the window; the caller itself is not


async def test_a_bad_monitoring_reload_keeps_the_rules(make_service: ServiceFactory, tmp_path: Path) -> None:
    """A reload with a broken monitoring.yml answers 400 with file:line and keeps evaluating the old rules."""
    config = config_with(tmp_path, PROBE_RULES)
    service = await make_service(config_dir=config)
    (config / "monitoring.yml").write_text(PROBE_RULES.replace("threshold: 50%", "threshold: 50"))
    async with service.client.post("/-/reload", headers=await service.headers("acme", "operator")) as r:
        problem = await r.json()
    assert 400 == r.status
    assert any("monitoring.yml:" in e and "rules[1].threshold" in e for e in problem["errors"]), problem
    await tick(service, probe=False, times=2)
    assert ["UptimeDegraded", "UptimeDown"] == sorted(a.rule.name for a in service.services.alerting.alerts())


async def test_a_reloaded_threshold_applies_at_the_next_evaluation(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """After monitoring.yml lowers UptimeDegraded's threshold from 100 % to 30 % and is reloaded, a 50 %
    uptime no longer fires it (it would have under the old threshold)."""
    config = config_with(tmp_path, PROBE_RULES)
    service = await make_service(config_dir=config)
    await tick(service, probe=True)
    await tick(service, probe=False, times=2)
    assert "UptimeDegraded" in {a.rule.name for a in service.services.alerting.alerts() if a.state == "firing"}
    (config / "monitoring.yml").write_text(PROBE_RULES.replace("threshold: 100%", "threshold: 30%"))
    async with service.client.post("/-/reload", headers=await service.headers("acme", "operator")) as r:
        assert 200 == r.status
    await tick(service, probe=True)  # 2 of 4: 50 %
    assert "UptimeDegraded" not in {a.rule.name for a in service.services.alerting.alerts()}
