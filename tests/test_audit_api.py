"""The audit log over real HTTP: what is recorded, pagination, search, reloads, failed logins, verify
(who may read it and bad parameters: test_audit_access.py)."""

from __future__ import annotations

import asyncio

import pytest

from exporter.audit.events import PLATFORM, Actor, Outcome, RequestContext, Target
from exporter.auth import tokens
from tests.support.audit_helpers import database_text, get_json, holding_chain_lock, search, usage_draft, write
from tests.support.helpers import ROOT, auth
from tests.support.service import Service

LIST = "/api/audit-logs/"


async def report(service: Service, headers: dict[str, str], **values: float) -> int:
    resp = await service.client.put("/api/tenant/usage", json=values, headers=headers)
    return resp.status


async def test_a_usage_report_is_recorded_with_who_what_and_where(service: Service) -> None:
    """PUT /api/tenant/usage leaves one event: the key, the target, the values, the request id,
    the source address and the (untrusted) user agent."""
    token = await service.token("acme", "service")
    headers = auth(token, **{"X-Request-ID": "req-42", "User-Agent": "billing-sync/2.1"})
    assert 200 == await report(service, headers, storage_used_gb=12.5, cases_created=7)
    [event] = await search(service, await service.headers("acme", "admin"), action="usage.report")
    key_id = event["actor"]["id"]
    assert key_id.startswith("key_")
    assert {
        "schema_version": "1.0", "tenant_id": "acme", "action": "usage.report",
        "actor": {"type": "api_key", "id": key_id, "name": "acme-service", "role": "service"},
        "target": {"type": "usage", "id": "acme", "name": ""},
        "outcome": {"status": "success", "reason": None}, "request_id": "req-42", "source_ip": "127.0.0.1",
        "user_agent": "billing-sync/2.1", "untrusted": ["user_agent"],
        "details": {"values": {"cases_created": 7.0, "storage_used_gb": 12.5}},
    }.items() <= event.items()
    assert (64, 26) == (len(event["hash"]), len(event["id"]))
    assert 1.0 == service.registry.get_sample_value(
        "tenant_exporter_audit_events_total", {"action": "usage.report", "outcome": "success"})


async def test_the_answer_waits_for_the_audit_commit(service: Service, database_url: str) -> None:
    """While another connection holds the tenant's chain locked, a usage report gets no answer;
    it answers 200 once its event can be committed, and the event is then in the database."""
    headers = await service.headers("acme", "service")
    assert 200 == await report(service, headers, cases_created=1)
    service.clock.advance(1)
    async with holding_chain_lock(database_url, "acme"):
        pending = asyncio.create_task(report(service, headers, cases_created=2))
        await asyncio.sleep(0.5)
        assert not pending.done()
    assert 200 == await pending
    admin = await service.headers("acme", "admin")
    assert [{"cases_created": 2.0}, {"cases_created": 1.0}] == [
        e["details"]["values"] for e in await search(service, admin, action="usage.report")]


async def test_the_pending_age_shows_how_long_audit_writes_wait(service: Service, database_url: str) -> None:
    """tenant_exporter_audit_pending_age_seconds is 0 when nothing waits, grows while a commit is held up
    (another writer holds the chain), and is 0 again once the event is committed (AuditWritesLagging reads it)."""
    registry = service.services.registry
    operator = await service.headers("acme", "operator")

    async def reload() -> int:  # audited in the platform's chain, and writes nothing else first
        return (await service.client.post("/-/reload", headers=operator)).status

    assert 200 == await reload()
    before = registry.get_sample_value("tenant_exporter_audit_pending_age_seconds")
    async with holding_chain_lock(database_url, PLATFORM):
        pending = asyncio.create_task(reload())
        await asyncio.sleep(0.3)
        service.clock.advance(7)
        held = registry.get_sample_value("tenant_exporter_audit_pending_age_seconds")
    assert 200 == await pending
    assert (0.0, 7.0, 0.0) == (before, held, registry.get_sample_value("tenant_exporter_audit_pending_age_seconds"))


async def test_many_concurrent_events_share_few_commits(service: Service) -> None:
    """Group commit: 200 events recorded at once are all committed, in fewer transactions than
    events, each in its own place in the tenant's chain."""
    audit = service.services.audit
    records = await asyncio.gather(*(audit.record(usage_draft("acme", i)) for i in range(200)))
    assert list(range(1, 201)) == sorted(r.seq for r in records)
    commits = service.registry.get_sample_value("tenant_exporter_audit_commit_batch_events_count")
    assert 200 == service.registry.get_sample_value("tenant_exporter_audit_commit_batch_events_sum")
    assert commits < 200
    status, body = await get_json(service, "/api/audit-logs/verify", await service.headers("acme", "admin"))
    assert (200, True, 201) == (status, body["ok"], body["tenants"][0]["checked"])  # and the admin key's creation


async def test_pages_are_newest_first_and_the_cursor_walks_every_event_once(service: Service) -> None:
    """limit + cursor page through the log newest first, without gaps or repeats, and a Link
    header names the next page; the seed's page/page_size reach the same pages."""
    await write(service, *(usage_draft("acme", i) for i in range(23)))
    headers = await service.headers("acme", "admin")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"action": "usage", "limit": 10} | ({"cursor": cursor} if cursor else {})
        resp = await service.client.get(LIST, headers=headers, params=params)
        body = await resp.json()
        seen += [e["details"]["values"]["cases_created"] for e in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        assert (cursor is not None) == body["has_more"] == ("Link" in resp.headers)
        if cursor is None:
            break
        assert f"cursor={cursor}" in resp.headers["Link"] and 'rel="next"' in resp.headers["Link"]
    assert (list(range(22, -1, -1)), 3) == (seen, pages)
    status, second = await get_json(service, LIST, headers, action="usage", page=2, page_size=10)
    assert (200, list(range(12, 2, -1)), 2, 10) == (
        status, [e["details"]["values"]["cases_created"] for e in second["data"]], second["page"], second["page_size"])


@pytest.mark.parametrize(("path", "params", "expected"), [
    (LIST, {"page": 1, "page_size": 10}, (28, 3, 10)),
    (LIST, {"page": 3, "page_size": 10}, (28, 3, 8)),
    (LIST, {"page": 9, "page_size": 10}, (28, 3, 0)),
    ("/api/audit-logs", {"page": 2, "page_size": 5}, (28, 6, 5)),
    ("/api/audit-logs/search", {"page": 1, "page_size": 10, "action": "usage."}, (23, 3, 10)),
    ("/api/audit-logs/search", {"page": 1, "page_size": 3, "action": "api_key."}, (5, 2, 3)),
    (LIST, {"limit": 10}, (None, None, 10)),
], ids=["the first page counts every event", "the last page says the same total",
        "a page past the end is empty and still counts", "the path without the slash counts too",
        "a filtered search counts only what matches", "another filter, another total", "cursor paging does not count"])
async def test_the_paged_list_says_how_many_events_match(service: Service, path: str, params: dict,
                                                         expected: tuple) -> None:
    """With the seed's page/page_size the answer carries `total` (here 27 events plus the key the test made),
    so a paged table knows its last page."""
    await write(service, *(usage_draft("acme", i) for i in range(23)),
                *(usage_draft("acme", i, action="api_key.create") for i in range(4)))
    status, body = await get_json(service, path, await service.headers("acme", "admin"), **params)
    last = -(-body["total"] // body["page_size"]) if body["total"] is not None else None
    assert (200, expected) == (status, (body["total"], last, len(body["data"])))


async def test_limit_is_capped(service: Service) -> None:
    """A huge limit is answered with at most 500 events per page, and says so."""
    status, body = await get_json(service, LIST, await service.headers("acme", "admin"), limit=10**9)
    assert (200, 500) == (status, body["limit"])


SEARCHES = {
    "action prefix": ({"action": "api_key"}, ["key-revoked", "key-made"]),
    "exact action": ({"action": "api_key.revoke"}, ["key-revoked"]),
    "actor by name": ({"actor": "alice"}, ["key-made"]),
    "actor by id": ({"actor": "key_bob"}, ["big-report", "key-revoked"]),
    "outcome": ({"outcome": "failure"}, ["refused"]),
    "target": ({"target": "key_123"}, ["key-revoked", "key-made"]),
    "text in details": ({"q": "QUARTERLY"}, ["big-report"]),
    "time range": ({"since": "2026-11-18T11:06:41Z", "until": "1795000003"}, ["key-revoked", "key-made"]),
    "a range that ends before it starts is empty": ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01"}, []),
    "request id": ({"request_id": "req-3"}, ["refused"]),
    "combined": ({"action": "api_key", "actor": "key_bob"}, ["key-revoked"]),
}


@pytest.mark.parametrize("case", list(SEARCHES), ids=list(SEARCHES))
async def test_search_filters(service: Service, case: str) -> None:
    """Each filter of /api/audit-logs/search selects exactly the matching events, newest first."""
    alice, bob = Actor.api_key("key_alice", "alice", "admin"), Actor.api_key("key_bob", "bob", "service")
    await write(
        service,
        usage_draft("acme", 1, action="api_key.create", actor=alice, target=Target("api_key", "key_123"),
                    details={"label": "key-made"}),
        usage_draft("acme", 2, action="api_key.revoke", actor=bob, target=Target("api_key", "key_123"),
                    details={"label": "key-revoked"}),
        usage_draft("acme", 3, actor=bob, details={"label": "big-report", "note": "quarterly numbers"}),
        usage_draft("acme", 4, outcome=Outcome.failure("quota"), details={"label": "refused"},
                    context=RequestContext(request_id="req-3")),
    )  # at 1795000001..04, i.e. 2026-11-18T11:06:41Z..44Z
    params, expected = SEARCHES[case]
    found = await search(service, await service.headers("acme", "admin"), **params)
    assert expected == [e["details"]["label"] for e in found if "label" in e["details"]]


async def test_a_reload_is_recorded_with_who_and_which_files(service: Service, config_dir) -> None:
    """POST /-/reload records config.reload on the platform chain: the operator key, the files,
    success; a broken file records a failure with the errors. Tenant admins do not see these."""
    operator = await service.headers("acme", "operator")
    assert 200 == (await service.client.post("/-/reload", headers=operator)).status
    service.clock.advance(1)
    (config_dir / "plans.yml").write_text((ROOT / "config" / "plans.yml").read_text()
                                          .replace("storage_gb: 5\n", "storage_gb: five\n"))
    assert 400 == (await service.client.post("/-/reload", headers=operator)).status
    failed, ok = await search(service, operator, action="config.reload")
    assert ("success", ["monitoring.yml", "plans.yml", "regions.yml", "tenants.yml"]) == (
        ok["outcome"]["status"], sorted(f.rsplit("/", 1)[-1] for f in ok["details"]["files"]))
    assert ({"type": "api_key", "name": "acme-operator", "role": "operator"}.items() <= ok["actor"].items())
    assert (PLATFORM, "failure") == (failed["tenant_id"], failed["outcome"]["status"])
    assert any("plans.free.limits.storage_gb" in e for e in failed["details"]["errors"])
    assert [] == await search(service, await service.headers("acme", "admin"), action="config.reload")


async def test_failed_logins_are_counted_and_sampled(service: Service) -> None:
    """Every invalid token is counted; one event per source per minute is recorded and the next
    says how many were left out; requests without any token are counted only."""
    bad = auth(tokens.new_token())
    for _ in range(20):
        assert 401 == (await service.client.get("/api/tenant/usage", headers=bad)).status
    assert 401 == (await service.client.get("/api/tenant/usage")).status
    service.clock.advance(61)
    assert 401 == (await service.client.get("/api/tenant/config", headers=bad)).status
    await service.services.audit.flush()
    value = service.registry.get_sample_value
    assert (21.0, 1.0, 19.0) == (
        value("tenant_exporter_auth_failures_total", {"reason": "invalid_token"}),
        value("tenant_exporter_auth_failures_total", {"reason": "missing_token"}),
        value("tenant_exporter_audit_auth_failures_suppressed_total"))
    events = await search(service, await service.headers("acme", "operator"), action="auth.failure")
    assert [("/api/tenant/config", 19), ("/api/tenant/usage", 0)] == [
        (e["details"]["route"], e["details"]["suppressed_before"]) for e in events]
    assert {("failure", "invalid_token", "anonymous")} == {
        (e["outcome"]["status"], e["outcome"]["reason"], e["actor"]["type"]) for e in events}


async def test_tokens_never_reach_the_database(service: Service) -> None:
    """After audited writes, refused tokens and an export, no token and no Authorization header
    value appears anywhere in the database."""
    good, admin, bad = (await service.token("acme", "service"), await service.token("acme", "admin"),
                        tokens.new_token())
    assert 200 == await report(service, auth(good), cases_created=3)
    assert 401 == (await service.client.get("/api/tenant/usage", headers=auth(bad))).status
    assert 200 == (await service.client.get("/api/audit-logs/export", headers=auth(admin))).status
    await service.services.audit.flush()
    everything = await database_text(service.services.store)
    assert "usage.report" in everything and "auth.failure" in everything  # the search looks at the right data
    for secret in (good, admin, bad, f"Bearer {good}", f"Bearer {bad}"):
        assert secret not in everything


async def test_verify_reports_the_first_broken_row(service: Service) -> None:
    """GET /api/audit-logs/verify passes on an untouched chain and names the edited row after."""
    await write(service, *(usage_draft("acme", i) for i in range(5)))
    admin = await service.headers("acme", "admin")
    status, body = await get_json(service, "/api/audit-logs/verify", admin)
    assert (200, True, [None]) == (status, body["ok"], [t["first_broken"] for t in body["tenants"]])
    await service.services.store.execute(
        "UPDATE audit_events SET details = '{}' WHERE tenant_id = 'acme' AND seq = 3")
    status, body = await get_json(service, "/api/audit-logs/verify", admin)
    [chain] = body["tenants"]
    assert (200, False, "acme", 3) == (status, body["ok"], chain["tenant_id"], chain["first_broken"]["seq"])
    assert "edited" in chain["first_broken"]["reason"]


async def test_failed_logins_from_many_addresses_are_capped_per_minute(service: Service) -> None:
    """A flood from 100 addresses in one minute records 60 events (the rest are counted only);
    the next minute records again."""
    sampler, audit = service.services.auth_failures, service.services.audit
    recorded = [sampler.failed("invalid_token", RequestContext(source_ip=f"198.51.100.{i}"), {}) for i in range(100)]
    service.clock.advance(60)
    recorded.append(sampler.failed("invalid_token", RequestContext(source_ip="203.0.113.9"), {}))
    await audit.flush()
    assert (60 * [True] + 40 * [False] + [True], 40.0) == (
        recorded, service.registry.get_sample_value("tenant_exporter_audit_auth_failures_suppressed_total"))
    events = await search(service, await service.headers("acme", "operator"), action="auth.failure")
    assert 61 == len(events)
