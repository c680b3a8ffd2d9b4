"""Quota enforcement: the monthly API-call quota and the per-second token bucket.

Every answer to an authenticated request carries the IETF draft's ``RateLimit-Policy`` and
``RateLimit`` fields plus the legacy ``RateLimit-Limit/-Remaining/-Reset`` trio (for the policy
with the lowest remaining, as the draft asks). A refusal is 429 with ``Retry-After`` equal to
that policy's reset, so the two always point at the same moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

from exporter.core.clock import Clock, Month
from exporter.core.errors import TooManyRequests
from exporter.tenancy.catalog import API_CALLS, RateLimit, Tenant
from exporter.tenancy.shared_limits import SharedLimits
from exporter.tenancy.usage import UsageTracker


@dataclass(slots=True)
class TokenBucket:
    rate: float
    capacity: int
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def seconds_until(self, tokens: float) -> int:
        return max(1, math.ceil((tokens - self.tokens) / self.rate)) if self.tokens < tokens else 0


@dataclass(frozen=True, slots=True)
class PolicyState:
    name: str
    quota: int
    window: int
    remaining: int
    reset: int


@dataclass(frozen=True, slots=True)
class _Terms:
    """What admitting a request of one tenant needs besides the counts, built once per tenant
    object (a config reload makes new ones) and calendar month."""

    tenant: Tenant
    month: Month
    quota: int
    hard: bool
    bucket: TokenBucket
    burst_window: int
    policy_line: str  # the RateLimit-Policy header line
    start: float  # the month's, read on every request
    end: float
    key: str


class QuotaEnforcer:
    def __init__(self, usage: UsageTracker, clock: Clock, shared: SharedLimits | None = None) -> None:
        self._usage = usage
        self._clock = clock
        self._now, self._monotonic = clock.now, clock.monotonic
        self._shared = shared  # REDIS_URL: the per-second limits are the fleet's (shared_limits.py)
        self._buckets: dict[str, TokenBucket] = {}
        self._terms: dict[str, _Terms] = {}

    def _bucket(self, tenant_id: str, rate: RateLimit) -> TokenBucket:
        bucket = self._buckets.get(tenant_id)
        if bucket is None or bucket.rate != rate.requests_per_second or bucket.capacity != rate.burst:
            bucket = TokenBucket(rate.requests_per_second, rate.burst, float(rate.burst), self._clock.monotonic())
            self._buckets[tenant_id] = bucket
        return bucket

    def _new_terms(self, tenant: Tenant, now: float) -> _Terms:
        month = self._usage.month(now)  # also starts the tracker's new month
        limit = tenant.limits[API_CALLS.name]
        quota = int(limit.value)
        bucket = self._bucket(tenant.id, tenant.rate_limit)
        burst_window = max(1, math.ceil(bucket.capacity / bucket.rate))
        policy = f'"monthly";q={quota};w={int(month.end - month.start)}, "burst";q={bucket.capacity};w={burst_window}'
        terms = self._terms[tenant.id] = _Terms(tenant, month, quota, not limit.soft, bucket, burst_window,
                                                f"RateLimit-Policy: {policy}\r\n", month.start, month.end, month.key)
        return terms

    def admit(self, tenant: Tenant) -> dict[str, str]:
        """Count one request for ``tenant`` or raise 429; return the RateLimit headers to send."""
        return header_fields(self.admit_lines(tenant))

    def admit_lines(self, tenant: Tenant) -> str:
        """``admit``, with the headers as the lines that go on the wire (``header_fields`` reads them).

        Every request runs this (docs/performance.md): one call counts the request and reads the
        month's count (a refusal takes the call back), and the five fields are one string, of numbers only.
        """
        now = self._now()
        terms = self._terms.get(tenant.id)
        if terms is None or terms.tenant is not tenant or not terms.start <= now < terms.end:
            terms = self._new_terms(tenant, now)
        quota, bucket = terms.quota, terms.bucket
        month_reset = max(1, math.ceil(terms.end - now))
        used = self._usage.count_call(tenant.id, terms.key)  # taken back below if the request is refused
        try:
            if terms.hard and used >= quota:
                month = terms.month
                monthly = PolicyState("monthly", quota, int(month.end - month.start), 0, month_reset)
                raise _refusal(
                    "quota-exceeded", monthly, [monthly], tenant,
                    f"the monthly quota of {quota} API calls is used up; it resets at the start of next month (UTC)",
                )
            shared = self._shared
            if shared is not None and shared.active:
                burst_left, burst_reset = self._take_shared(shared, terms, used, month_reset)
            else:
                if shared is not None:
                    shared.noted(tenant.id, tenant.rate_limit)
                if not bucket.take(self._monotonic()):
                    self._refuse(terms, used, month_reset, bucket.seconds_until(1.0), "")
                tokens, capacity = bucket.tokens, bucket.capacity
                burst_left = int(tokens)
                burst_reset = max(1, math.ceil((capacity - tokens) / bucket.rate)) if tokens < capacity else 0
        except TooManyRequests:
            self._usage.uncount_call(tenant.id, terms.key)
            raise
        month_left = quota - used - 1 if used < quota else 0
        # each number formatted once; the legacy trio repeats the policy with the lowest remaining, then later reset
        m_left, m_reset, b_left, b_reset = str(month_left), str(month_reset), str(burst_left), str(burst_reset)
        if burst_left < month_left or (burst_left == month_left and burst_reset > month_reset):
            trio = f"RateLimit-Limit: {bucket.capacity}\r\nRateLimit-Remaining: {b_left}\r\nRateLimit-Reset: {b_reset}"
        else:
            trio = f"RateLimit-Limit: {quota}\r\nRateLimit-Remaining: {m_left}\r\nRateLimit-Reset: {m_reset}"
        return (f'{terms.policy_line}RateLimit: "monthly";r={m_left};t={m_reset}, "burst";r={b_left};t={b_reset}'
                f"\r\n{trio}\r\n")

    def _take_shared(self, shared: SharedLimits, terms: _Terms, used: int, month_reset: int) -> tuple[int, int]:
        """The fleet's bucket (through this replica's share): the burst policy's remaining and reset, or 429."""
        tenant, now = terms.tenant, self._clock.monotonic()
        share = shared.share(tenant.id, tenant.rate_limit)
        if not shared.take(share):
            self._refuse(terms, used, month_reset, share.retry_after(now), " across all replicas")
        return share.remaining(), share.reset(now)

    @staticmethod
    def _refuse(terms: _Terms, used: int, month_reset: int, wait: int, where: str) -> NoReturn:
        month, quota, tenant = terms.month, terms.quota, terms.tenant
        burst = PolicyState("burst", tenant.rate_limit.burst, terms.burst_window, 0, wait)
        monthly = PolicyState("monthly", quota, int(month.end - month.start), max(0, quota - used), month_reset)
        raise _refusal("rate-limited", burst, [monthly, burst], tenant,
                       f"more than {tenant.rate_limit.requests_per_second:g} requests per second{where} "
                       f"(burst {tenant.rate_limit.burst}); retry in {wait} s")


def header_fields(lines: str) -> dict[str, str]:
    """The fields of header lines (``Name: value``, each ending in CRLF), by name."""
    return dict(line.split(": ", 1) for line in lines.split("\r\n") if line)


def headers(policies: list[PolicyState], lowest: PolicyState | None = None) -> dict[str, str]:
    if lowest is None:
        lowest = min(policies, key=lambda p: (p.remaining, -p.reset))
    return {
        "RateLimit-Policy": ", ".join(f'"{p.name}";q={p.quota};w={p.window}' for p in policies),
        "RateLimit": ", ".join(f'"{p.name}";r={p.remaining};t={p.reset}' for p in policies),
        "RateLimit-Limit": str(lowest.quota),
        "RateLimit-Remaining": str(lowest.remaining),
        "RateLimit-Reset": str(lowest.reset),
    }


def _refusal(
    slug: str, refused: PolicyState, policies: list[PolicyState], tenant: Tenant, detail: str
) -> TooManyRequests:
    out = headers(policies, refused)
    out["Retry-After"] = str(refused.reset)
    return TooManyRequests(
        detail,
        headers=out,
        slug=slug,
        extra={"tenant_id": tenant.id, "policy": refused.name, "limit": refused.quota, "retry_after": refused.reset},
    )
