"""Incidents: a firing error alert or a breach opens one, an acknowledgement identifies it (with the operator's
public message, nothing private), the end resolves it; they are durable, shared by replicas, kept 90 days, and
the banner, the components and the open incidents agree at every step of a storm."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.support.monitoring import PROBE_RULES, config_with, tick
from tests.support.service import Service, ServiceFactory
from tests.support.sla_helpers import rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint

OUTAGES = {"major": "partial_outage", "critical": "major_outage"}


async def status(service: Service) -> dict[str, Any]:
    await service.services.incidents.sync()  # what the service does every evaluation interval
    async with service.client.get("/api/monitoring/status") as r:
        assert 200 == r.status
        return dict(await r.json())


def agree(body: dict[str, Any]) -> None:
    """The banner, the components and the open incidents say the same thing."""
    components = {c["id"]: c["status"] for c in body["components"]}
    open_incidents = [i for i in body["incidents"] if i["status"] != "resolved"]
    in_outage = {c for c, s in components.items() if s in ("partial_outage", "major_outage")}
    named = {c["id"] for i in open_incidents for c in i["components"]}
    assert in_outage == named, (components, open_incidents)
    for incident in open_incidents:
        for c in incident["components"]:
            assert STATUSES.index(components[c["id"]]) >= STATUSES.index(OUTAGES[incident["impact"]])
    red = body["status"]["indicator"] in ("major", "critical")
    assert red == bool(open_incidents), (body["status"], open_incidents)


STATUSES = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


async def test_an_error_alert_opens_an_incident_that_an_acknowledgement_identifies_and_its_end_resolves(
    make_service: ServiceFactory, tmp_path: Path,
) -> None:
    """UptimeDown fires: an incident (investigating, the API in partial outage); the operator acknowledges with a
    public message: identified, saying exactly that and nothing else of the acknowledgement; probes recover: the
    incident is resolved, the page all operational, and the incident listed as past."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    operator = await service.headers("acme", "operator")
    await tick(service, probe=True)
    await tick(service, probe=False, times=6)
    during = await status(service)
    [incident] = during["incidents"]
    assert (("Most API probes fail", "investigating", "major", ["api"]), "partial_outage", "major") == (
        (incident["name"], incident["status"], incident["impact"], [c["id"] for c in incident["components"]]),
        during["components"][0]["status"], during["status"]["indicator"])
    assert incident["incident_updates"][0]["body"].startswith("Most API probes fail: Uptime (API probe) is ")
    alert = next(a for a in service.services.alerting.alerts() if a.rule.name == "UptimeDown")
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{alert.id}", headers=operator,
                                   json={"comment": "the private comment", "public_message": "Restarting it."}) as r:
        assert 200 == r.status
    identified = await status(service)
    assert [("identified", "Restarting it."), ("investigating", incident["incident_updates"][0]["body"])] == [
        (u["status"], u["body"]) for u in identified["incidents"][0]["incident_updates"]]
    text = json.dumps(identified)
    assert ("the private comment" not in text, "acme-operator" not in text) == (True, True)
    await tick(service, probe=True, times=21)
    after = await status(service)
    assert (["resolved"], "none", "operational") == ([i["status"] for i in after["incidents"]],
                                                     after["status"]["indicator"], after["components"][0]["status"])
    assert after["incidents"][0]["incident_updates"][0]["body"].startswith("Resolved after ")


async def test_an_acknowledgement_without_a_public_message_says_a_fixed_sentence(make_service: ServiceFactory,
                                                                                 tmp_path: Path) -> None:
    """Acknowledged with only a private comment, the identified update is the fixed sentence."""
    service = await make_service(config_dir=config_with(tmp_path, PROBE_RULES))
    await tick(service, probe=False, times=6)
    await status(service)
    alert = next(a for a in service.services.alerting.alerts() if a.rule.name == "UptimeDown")
    async with service.client.post(f"/api/monitoring/alerts/acknowledge/{alert.id}", json={"comment": "mine"},
                                   headers=await service.headers("acme", "operator")) as r:
        assert 200 == r.status
    update = (await status(service))["incidents"][0]["incident_updates"][0]
    assert ("identified", "The cause has been identified and is being worked on.") == (update["status"],
                                                                                     update["body"])


async def test_the_banner_components_and_incidents_agree_through_a_storm(make_service: ServiceFactory,
                                                                          cache: TcpEndpoint, tmp_path: Path) -> None:
    """Sixty random steps of cache outages, failing API probes and recoveries: after every step the indicator is
    red exactly when an incident is open, and a component is in an outage exactly when an open incident names it."""
    rules = "rules:\n" + "\n".join(line for line in PROBE_RULES.split("rules:\n")[1].splitlines()) + "\n"
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port, rules=rules))
    rng = random.Random(16)
    seen: set[tuple[str, str]] = set()
    for _ in range(60):
        await rounds(service, cache, rng.choice("++-"))
        await tick(service, probe=rng.random() < 0.6)
        body = await status(service)
        agree(body)
        seen |= {(i["impact"], i["status"]) for i in body["incidents"]}
    assert {("major", "investigating"), ("critical", "investigating"), ("major", "resolved"),
            ("critical", "resolved")} <= seen  # the storm had both kinds of incident, open and over


async def test_incidents_survive_a_restart(make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path) -> None:
    """An open breach incident is still there, the same one, after a restart; once probes succeed it resolves."""
    config = sla_config(tmp_path / "config", cache.port)
    first = await make_service(config_dir=config, instance_id="replica-a")
    await rounds(first, cache, "+--")
    [before] = (await status(first))["incidents"]
    await first.client.close()
    second = await make_service(config_dir=config, instance_id="replica-a")
    [kept] = (await status(second))["incidents"]
    assert (before["id"], before["name"]) == (kept["id"], kept["name"])
    await rounds(second, cache, "+")
    assert ["resolved"] == [i["status"] for i in (await status(second))["incidents"]]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_replicas_open_one_incident_for_one_breach(make_service: ServiceFactory, cache: TcpEndpoint,
                                                             tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL see the same outage of the cache: one incident, which both show."""
    config = sla_config(tmp_path / "config", cache.port)
    a = await make_service(config_dir=config, instance_id="replica-a")
    b = await make_service(config_dir=config, instance_id="replica-b")
    await rounds(a, cache, "+--")
    await a.services.sla.flush()
    await b.services.sla.flush()  # b reads a's breach back
    seen_by_a, seen_by_b = await status(a), await status(b)
    assert ([seen_by_a["incidents"][0]["id"]], "major_outage") == (
        [i["id"] for i in seen_by_b["incidents"]], next(c for c in seen_by_b["components"] if c["id"] == "cache")[
            "status"])
