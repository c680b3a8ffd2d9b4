"""Usage counting, reported usage, monthly quotas, the token bucket and RateLimit headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from exporter.core.clock import month_bounds
from tests.support.helpers import make_config_dir
from tests.support.service import Service

SMALL = [
    {"id": "tiny", "name": "Tiny", "plan": "free", "region": "us-east", "limits": {"api_calls_per_month": 5}},
    {"id": "slow", "name": "Slow", "plan": "free", "region": "us-east",
     "rate_limit": {"requests_per_second": 1, "burst": 2}},
    {"id": "big", "name": "Big", "plan": "enterprise", "region": "us-east", "limits": {"api_calls_per_month": 3}},
]


def policies(header: str) -> dict[str, dict[str, int]]:
    """Parse a RateLimit / RateLimit-Policy structured list into {name: {param: value}}."""
    out = {}
    for item in header.split(", "):
        name = re.match(r'"([^"]+)"', item).group(1)
        out[name] = {k: int(v) for k, v in re.findall(r";(\w+)=(\d+)", item)}
    return out


async def test_each_request_counts_and_usage_survives_a_restart(make_service, aiohttp_client) -> None:
    """Authenticated requests count toward api_calls_this_month and the count survives a restart."""
    service = await make_service()
    headers = await service.headers("acme")
    for _ in range(7):
        assert 200 == (await service.client.get("/api/tenant/config", headers=headers)).status
    usage = (await (await service.client.get("/api/tenant/usage", headers=headers)).json())["usage"]
    assert 8 == usage["api_calls_this_month"]  # the usage request itself counts too
    await service.client.close()  # clean shutdown: the final flush writes pending counts

    again = await make_service()
    usage = (await (await again.client.get("/api/tenant/usage", headers=headers)).json())["usage"]
    assert 9 == usage["api_calls_this_month"]


async def test_counts_are_flushed_in_batches_not_per_request(service: Service) -> None:
    """Requests do not write the store; a flush adds them in one go."""
    headers = await service.headers("globex")
    for _ in range(5):
        await service.client.get("/api/tenant/config", headers=headers)
    store = service.services.store
    month = datetime.fromtimestamp(service.clock.now(), UTC).strftime("%Y-%m")
    assert {} == await store.api_calls(month)
    await service.services.usage.flush()
    assert {"globex": 5} == await store.api_calls(month)


async def test_monthly_quota_gives_429_with_consistent_headers(make_service, tmp_path) -> None:
    """Past api_calls_per_month: 429, Retry-After = seconds to the next UTC month = RateLimit reset."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=SMALL))
    headers = await service.headers("tiny")
    for i in range(5):
        resp = await service.client.get("/api/tenant/config", headers=headers)
        assert 200 == resp.status
        assert 5 - i - 1 == policies(resp.headers["RateLimit"])["monthly"]["r"]
    refused = await service.client.get("/api/tenant/config", headers=headers)
    assert 429 == refused.status
    body = await refused.json()
    assert "urn:tenant-exporter:problem:quota-exceeded" == body["type"]
    _, end = month_bounds(service.clock.now())
    expected = int(end - service.clock.now()) + (0 if (end - service.clock.now()).is_integer() else 1)
    assert str(expected) == refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
    assert {"q": 5, "w": int(end - month_bounds(service.clock.now())[0])} == policies(
        refused.headers["RateLimit-Policy"])["monthly"]
    assert "0" == refused.headers["RateLimit-Remaining"]
    usage = await (await service.client.get("/api/tenant/usage", headers=headers)).json()
    assert 429 == usage["status"]  # still refused: usage is not readable past a hard quota either


async def test_quota_resets_at_the_start_of_the_next_utc_month(make_service, tmp_path) -> None:
    """The refused tenant is served again once the calendar month (UTC) changes."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=SMALL))
    headers = await service.headers("tiny")
    for _ in range(5):
        await service.client.get("/api/tenant/config", headers=headers)
    await service.services.usage.flush()
    assert 429 == (await service.client.get("/api/tenant/config", headers=headers)).status
    _, end = month_bounds(service.clock.now())
    service.clock.advance(end - service.clock.now() + 1)
    resp = await service.client.get("/api/tenant/usage", headers=headers)
    assert 200 == resp.status
    assert 1 == (await resp.json())["usage"]["api_calls_this_month"]


async def test_soft_limit_warns_but_never_blocks(make_service, tmp_path) -> None:
    """Enterprise's soft API quota: past it requests still succeed and usage says exceeded."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=SMALL))
    headers = await service.headers("big")
    for _ in range(5):
        assert 200 == (await service.client.get("/api/tenant/config", headers=headers)).status
    detail = (await (await service.client.get("/api/tenant/usage", headers=headers)).json())["details"]
    api = detail["api_calls_per_month"]
    assert ("soft", "exceeded", True, 3, [0.8, 1.0]) == (
        api["enforcement"], api["status"], api["has_access"], api["overage"], api["thresholds_crossed"])


async def test_per_second_rate_is_a_token_bucket(make_service, tmp_path) -> None:
    """Beyond the burst the tenant gets 429 rate-limited with Retry-After; tokens refill with time."""
    service = await make_service(config_dir=make_config_dir(tmp_path / "c", tenants=SMALL))
    headers = await service.headers("slow")
    assert [200, 200, 429] == [(await service.client.get("/api/tenant/config", headers=headers)).status
                               for _ in range(3)]
    refused = await service.client.get("/api/tenant/config", headers=headers)
    assert ("urn:tenant-exporter:problem:rate-limited", "1", "1") == (
        (await refused.json())["type"], refused.headers["Retry-After"], refused.headers["RateLimit-Reset"])
    assert {"r": 0, "t": 1} == policies(refused.headers["RateLimit"])["burst"]
    service.clock.advance(1.0)
    assert 200 == (await service.client.get("/api/tenant/config", headers=headers)).status


async def test_every_response_carries_ratelimit_headers(service: Service) -> None:
    """Successful and failed authenticated responses both carry all five RateLimit fields."""
    headers = await service.headers("globex")
    ok = await service.client.get("/api/tenant/limits", headers=headers)
    bad = await service.client.put("/api/tenant/usage", json={"cases_created": 1}, headers=headers)  # viewer: 403
    for resp in (ok, bad):
        assert {"RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining",
                "RateLimit-Reset"} <= set(resp.headers), resp.headers
    assert 403 == bad.status
    assert {"monthly": {"q": 10000, "w": policies(ok.headers["RateLimit-Policy"])["monthly"]["w"]},
            "burst": {"q": 10, "w": 2}} == policies(ok.headers["RateLimit-Policy"])


async def reported(client: TestClient, headers: dict, body: object, raw: bytes | None = None,
                   content_type: str = "application/json") -> tuple[int, dict]:
    if raw is None:
        resp = await client.put("/api/tenant/usage", headers=headers, json=body)
    else:
        resp = await client.put("/api/tenant/usage", data=raw, headers={**headers, "Content-Type": content_type})
    return resp.status, await resp.json()


async def test_service_reports_usage_and_it_is_stored(make_service) -> None:
    """PUT /api/tenant/usage (role service) stores storage, members and cases; a restart keeps them."""
    service = await make_service()
    headers = await service.headers("globex", "service")
    status, body = await reported(service.client, headers, {"storage_used_gb": 4.5, "team_members_active": 3,
                                                            "cases_created": 60})
    assert 200 == status
    assert (4.5, 3, 60) == (body["usage"]["storage_used_gb"], body["usage"]["team_members_active"],
                            body["usage"]["cases_created"])
    assert ("warning", "exceeded", "exceeded") == (body["details"]["storage_gb"]["status"],
                                                  body["details"]["team_members"]["status"],
                                                  body["details"]["cases"]["status"])
    await service.client.close()
    again = await make_service()
    usage = (await (await again.client.get("/api/tenant/usage", headers=headers)).json())["usage"]
    assert (4.5, 3, 60) == (usage["storage_used_gb"], usage["team_members_active"], usage["cases_created"])


BAD_REPORTS = [
    ({"storage_used_gb": -1}, 422), ({"cases_created": 1.5}, 422), ({"cases_created": "7"}, 422),
    ({"teams": 1}, 422), ([1, 2], 422), ({"storage_used_gb": 1e300}, 422),
]


async def test_bad_usage_reports_are_clear_errors_and_change_nothing(service: Service) -> None:
    """Wrong types, negatives and unknown fields are 422; malformed JSON 400; not JSON 415; nothing stored."""
    headers = await service.headers("acme", "service")
    for body, status in BAD_REPORTS:
        code, problem = await reported(service.client, headers, body)
        assert (status, True) == (code, problem["type"].startswith("urn:tenant-exporter:problem:")), (body, problem)
    for raw in (b"{not json", b'{"storage_used_gb": NaN}', b'{"storage_used_gb": Infinity}', b"\xff\xfe"):
        code, problem = await reported(service.client, headers, None, raw)
        assert 400 == code, (raw, problem)
    code, _ = await reported(service.client, headers, None, b"x=1", "application/x-www-form-urlencoded")
    assert 415 == code
    usage = (await (await service.client.get("/api/tenant/usage", headers=headers)).json())["usage"]
    assert (0, 0, 0) == (usage["storage_used_gb"], usage["team_members_active"], usage["cases_created"])


async def test_oversize_body_is_413(make_service) -> None:
    """A body above MAX_BODY_BYTES is refused with 413 problem+json."""
    service = await make_service(max_body_bytes=1024)
    headers = await service.headers("acme", "service")
    resp = await service.client.put("/api/tenant/usage", data=b'{"cases_created": 1' + b" " * 4096 + b"}",
                                    headers={**headers, "Content-Type": "application/json"})
    assert (413, "application/problem+json") == (resp.status, resp.content_type)


async def test_usage_is_not_lost_when_the_store_write_fails(service: Service) -> None:
    """A failed flush keeps its counts and the next flush writes them."""
    from exporter.core.errors import StoreUnavailable

    usage = service.services.usage
    store = service.services.store
    headers = await service.headers("acme")
    for _ in range(3):
        await service.client.get("/api/tenant/config", headers=headers)
    real = store.add_api_calls

    async def down(deltas):
        raise StoreUnavailable("database restarting")

    store.add_api_calls = down  # the database goes away for one flush
    try:
        await usage.flush()
    except StoreUnavailable:
        pass
    finally:
        store.add_api_calls = real
    assert 3 == usage.api_calls("acme")
    await usage.flush()
    month = datetime.fromtimestamp(service.clock.now(), UTC).strftime("%Y-%m")
    assert 3 == (await store.api_calls(month))["acme"]

