"""The token bucket and the quota enforcer on their own: a real store, a moved clock, no app, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import load_config
from exporter.core.errors import TooManyRequests
from exporter.settings import Settings
from exporter.store import Store
from exporter.tenancy.catalog import Catalog
from exporter.tenancy.quota import QuotaEnforcer, TokenBucket, header_fields
from exporter.tenancy.usage import UsageTracker
from tests.support.helpers import FakeClock, make_config_dir

TENANTS = [
    {"id": "small", "name": "Small", "plan": "free", "region": "us-east",
     "limits": {"api_calls_per_month": 5}, "rate_limit": {"requests_per_second": 2, "burst": 3}},
    {"id": "big", "name": "Big", "plan": "enterprise", "region": "eu-west",
     "limits": {"api_calls_per_month": 2}, "rate_limit": {"requests_per_second": 1000, "burst": 1000}},
]


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    config_dir = make_config_dir(tmp_path / "config", tenants=TENANTS)
    return load_config(Settings.from_env({}, config_dir=config_dir)).catalog


async def enforcer(store: Store, clock: FakeClock) -> QuotaEnforcer:
    usage = UsageTracker(store, clock)
    await usage.load()
    return QuotaEnforcer(usage, clock)


@pytest.mark.parametrize(("elapsed", "expected_tokens"), [(0.0, 2.0), (0.25, 2.5), (10.0, 3.0)],
                         ids=["no time: one token less", "a quarter second refills half a token",
                              "ten seconds refill up to the capacity, no further"])
def test_a_bucket_refills_at_its_rate_up_to_its_capacity(elapsed: float, expected_tokens: float) -> None:
    """Taking one from a full bucket of 3 at 2/s, then waiting, leaves the tokens the rate allows."""
    bucket = TokenBucket(rate=2.0, capacity=3, tokens=3.0, updated=0.0)
    assert bucket.take(0.0)
    bucket.take(elapsed)  # refills to min(3, 2 + 2 * elapsed), then takes one more
    assert expected_tokens - 1 == pytest.approx(bucket.tokens)


def test_an_empty_bucket_refuses_and_says_when_the_next_token_comes() -> None:
    """Past its burst a bucket refuses; ``seconds_until`` rounds the wait up to whole seconds."""
    bucket = TokenBucket(rate=0.5, capacity=1, tokens=1.0, updated=0.0)
    assert (True, False, 2) == (bucket.take(0.0), bucket.take(0.0), bucket.seconds_until(1.0))
    assert bucket.take(2.0)


async def test_the_burst_is_refused_with_retry_after_and_headers(store: Store, catalog: Catalog) -> None:
    """Three requests pass a burst of 3 with RateLimit headers counting down; the fourth is 429
    `rate-limited` with Retry-After; after a second two more tokens are back."""
    clock = FakeClock()
    quota = await enforcer(store, clock)
    small = catalog.tenants["small"]
    remaining = [quota.admit(small)["RateLimit-Remaining"] for _ in range(3)]
    with pytest.raises(TooManyRequests) as refused:
        quota.admit(small)
    assert (["2", "1", "0"], "rate-limited", "1") == (remaining, refused.value.slug,
                                                      refused.value.headers["Retry-After"])
    clock.advance(1.0)
    quota.admit(small)
    quota.admit(small)


async def test_a_hard_monthly_quota_refuses_until_the_month_ends(store: Store, catalog: Catalog) -> None:
    """After 5 calls the free plan's hard quota answers `quota-exceeded` until the next month, which starts afresh."""
    clock = FakeClock()
    quota = await enforcer(store, clock)
    small = catalog.tenants["small"]
    for _ in range(5):
        quota.admit(small)
        clock.advance(1.0)  # stay inside the burst
    with pytest.raises(TooManyRequests) as refused:
        quota.admit(small)
    retry_after = int(refused.value.headers["Retry-After"])
    assert ("quota-exceeded", True) == (refused.value.slug, 0 < retry_after <= 31 * 86_400)
    clock.advance(retry_after + 1)
    assert quota.admit(small)["RateLimit"].startswith('"monthly";r=4;')


async def test_a_soft_quota_warns_and_never_refuses(store: Store, catalog: Catalog) -> None:
    """Enterprise's API quota is soft: past it, requests pass and the monthly remaining stays at 0."""
    clock = FakeClock()
    quota = await enforcer(store, clock)
    big = catalog.tenants["big"]
    answers = [quota.admit(big) for _ in range(4)]
    assert ['"monthly";r=0', '"monthly";r=0'] == [a["RateLimit"].split(";t=")[0] for a in answers[2:]]


async def test_a_refused_request_is_not_counted(store: Store, catalog: Catalog) -> None:
    """The month's count is taken with the admission and given back on a 429: refusals of the burst and of
    the used-up month leave the count at the calls that were answered."""
    clock = FakeClock()
    usage = UsageTracker(store, clock)
    await usage.load()
    quota = QuotaEnforcer(usage, clock)
    small = catalog.tenants["small"]
    refused = 0
    for _ in range(3):
        for _ in range(4):  # a burst of 3: the fourth is refused
            try:
                quota.admit_lines(small)
            except TooManyRequests:
                refused += 1
        clock.advance(2.0)
    assert (5, 7) == (usage.api_calls("small"), refused)  # 3, then 2 before the month's 5 are used up


async def test_the_header_lines_are_the_fields_on_the_wire(store: Store, catalog: Catalog) -> None:
    """admit_lines gives each RateLimit field as one CRLF-terminated line; header_fields reads them back."""
    quota = await enforcer(store, FakeClock())
    lines = quota.admit_lines(catalog.tenants["small"])
    fields = header_fields(lines)
    names = ["RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
    assert names == list(fields)
    assert lines == "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    assert ("3", "2") == (fields["RateLimit-Limit"], fields["RateLimit-Remaining"])  # the burst: the lowest remaining
