"""Which in-process alerts go to Alertmanager, when, and in what shape: the forwarder's decisions, with the
test's clock. (The real Alertmanager receiving them is test_e2e_alertmanager.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.alertmanager.client import AlertmanagerClient
from exporter.alertmanager.forwarder import AlertForwarder, Batch
from exporter.core.clock import isoformat
from exporter.core.errors import SettingsError
from exporter.settings import Settings
from tests.support.monitoring import PROBE_RULES, config_with, replica_labels, tick
from tests.support.service import Service, ServiceFactory

RESEND = 60.0
GENERATOR = "http://tenant-exporter.example/api/monitoring/alerts"


@pytest.fixture
async def forwarding(make_service: ServiceFactory, tmp_path: Path) -> AsyncIterator[tuple[Service, AlertForwarder]]:
    """The real app with probe-driven rules, and a forwarder over its evaluator (its client is never called)."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    async with aiohttp.ClientSession() as session:
        client = AlertmanagerClient("http://127.0.0.1:9", session, CollectorRegistry())
        yield service, AlertForwarder(client, service.services.alerting, service.clock, service.registry,
                                      resend_interval=RESEND, generator_url=GENERATOR)


def summary(batch: Batch) -> list[tuple[str, str, str]]:
    """(state, alertname, endsAt) of each alert due."""
    return [(state.value, p["labels"]["alertname"], p["endsAt"]) for state, p in batch.items]


def at(service: Service, offset: float = 0.0) -> str:
    return isoformat(service.clock.now() + offset)


async def test_pending_alerts_wait_and_a_firing_one_is_sent_then_resent_each_interval(
    forwarding: tuple[Service, AlertForwarder],
) -> None:
    """A firing alert is sent at once with endsAt four resend intervals ahead, and not again until the resend
    interval has passed; a pending alert is not sent until it fires."""
    service, forwarder = forwarding
    await tick(service, probe=False, times=2)  # UptimeDegraded fires (no `for`); UptimeDown is pending (for 1m)
    batch = forwarder.due()
    assert [("firing", "UptimeDegraded", at(service, 4 * RESEND))] == summary(batch)
    [(_, payload)] = batch.items
    degraded = next(a for a in service.services.alerting.alerts() if a.rule.name == "UptimeDegraded")
    assert ({"alertname": "UptimeDegraded", "severity": "warning", "signal": "uptime", "service": "api",
             "source": "tenant-exporter", **replica_labels(service)}, isoformat(degraded.active_at_ms / 1000),
            GENERATOR) == (payload["labels"], payload["startsAt"], payload["generatorURL"])
    assert {"summary": "Some API probes fail", "description": "Uptime (API probe) < 100% for 0s.",
            "alert_id": degraded.id, "runbook_url": "https://runbooks.example.com/uptime"} == payload["annotations"]
    forwarder.sent(batch)
    await tick(service, probe=False, times=2)  # 30 s after the send
    assert [] == summary(forwarder.due())
    await tick(service, probe=False)  # 45 s: UptimeDown has been pending for 1m and fires
    batch = forwarder.due()
    assert [("firing", "UptimeDown", at(service, 4 * RESEND))] == summary(batch)
    forwarder.sent(batch)
    await tick(service, probe=False)  # 60 s after the first send: UptimeDegraded is sent again
    assert [("firing", "UptimeDegraded", at(service, 4 * RESEND))] == summary(forwarder.due())
    assert 2.0 == service.registry.get_sample_value("tenant_exporter_alertmanager_alerts_sent_total",
                                                    {"state": "firing"})


async def test_a_resolved_alert_is_sent_with_its_end_and_resent_while_listed(
    forwarding: tuple[Service, AlertForwarder],
) -> None:
    """Once resolved, a sent alert goes out with the time it resolved, again every resend interval while it is
    listed (15 minutes), then never."""
    service, forwarder = forwarding
    await tick(service, probe=False)
    forwarder.sent(forwarder.due())
    await tick(service, probe=True, times=21)  # the failure leaves the 5 m window: resolved
    resolved_at = next(a for a in service.services.alerting.alerts(include_resolved=True)
                       if a.rule.name == "UptimeDegraded").resolved_at_ms
    assert resolved_at is not None
    batch = forwarder.due()
    assert [("resolved", "UptimeDegraded", isoformat(resolved_at / 1000))] == summary(batch)
    forwarder.sent(batch)
    assert [] == summary(forwarder.due())
    await tick(service, probe=True, times=4)
    assert [("resolved", "UptimeDegraded", isoformat(resolved_at / 1000))] == summary(forwarder.due())
    await tick(service, probe=True, times=60)  # 15 minutes on: no longer listed, so no longer sent
    assert [] == summary(forwarder.due())


async def test_an_alert_whose_rule_is_removed_by_a_reload_is_sent_resolved_at_once(
    forwarding: tuple[Service, AlertForwarder], tmp_path: Path,
) -> None:
    """A firing alert that vanishes because a reload removed its rule is sent resolved (endsAt now), once."""
    service, forwarder = forwarding
    await tick(service, probe=False)
    forwarder.sent(forwarder.due())
    rules = PROBE_RULES.replace("  - name: UptimeDegraded\n    signal: uptime\n    operator: \"<\"\n"
                                "    threshold: 100%\n    severity: warning\n    summary: Some API probes fail\n"
                                "    runbook_url: https://runbooks.example.com/uptime\n", "")
    assert "UptimeDegraded" not in rules
    (tmp_path / "monitoring.yml").write_text(rules)
    assert (await service.services.config.reload()).ok
    await tick(service, probe=False)
    batch = forwarder.due()
    assert [("resolved", "UptimeDegraded", at(service))] == summary(batch)
    forwarder.sent(batch)
    await tick(service, probe=False, times=5)
    assert ["UptimeDown"] == [name for _, name, _ in summary(forwarder.due())]


@pytest.mark.parametrize(("failures", "base"), [(1, 1.0), (2, 2.0), (4, 8.0), (7, 60.0), (30, 60.0)],
                         ids=["first retry after 1 s", "then 2 s", "doubling", "capped at the resend interval",
                              "still capped"])
async def test_retries_back_off_exponentially_up_to_the_resend_interval(
    forwarding: tuple[Service, AlertForwarder], failures: int, base: float,
) -> None:
    """After n failures the next try waits 2^(n-1) s (at most the resend interval), plus up to 10 % jitter."""
    _, forwarder = forwarding
    delay = forwarder.backoff(failures)
    assert (True, True) == (base <= delay, delay <= base * 1.1)


async def test_without_alertmanager_nothing_is_forwarded_and_acknowledgements_have_no_silence(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """With ALERTMANAGER_URL unset there is no forwarder, no Alertmanager metric, and an acknowledgement is
    answered as before with silence_id null."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    await tick(service, probe=False)
    alert = next(a for a in service.services.alerting.alerts() if a.rule.name == "UptimeDegraded")
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{alert.id}",
                                   headers=await service.headers("acme", "operator")) as r:
        assert (200, None) == (r.status, (await r.json())["acknowledgement"]["silence_id"])
    assert (None, None) == (service.services.alertmanager,
                            service.registry.get_sample_value("tenant_exporter_alertmanager_requests_total",
                                                              {"operation": "post_alerts", "result": "error"}))


@pytest.mark.parametrize(("raw", "expected"), [
    ("http://alertmanager:9093/", "http://alertmanager:9093"),
    ("https://am.example.com/prefix", "https://am.example.com/prefix"),
    ("", None),
], ids=["a trailing slash is dropped", "https and a path prefix are kept", "empty is off"])
def test_alertmanager_url_setting(raw: str, expected: str | None) -> None:
    """ALERTMANAGER_URL is an http(s) base URL, or unset."""
    assert expected == Settings.from_env({"ALERTMANAGER_URL": raw}).alertmanager_url


@pytest.mark.parametrize("raw", ["alertmanager:9093", "ftp://am:21", "http://am:9093/?x=1"],
                         ids=["no scheme", "not http", "a query string"])
def test_a_bad_alertmanager_url_stops_the_start(raw: str) -> None:
    """A value that is not an http(s) URL is refused with the variable's name."""
    with pytest.raises(SettingsError, match="ALERTMANAGER_URL="):
        Settings.from_env({"ALERTMANAGER_URL": raw})
