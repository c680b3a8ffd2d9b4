"""SLA accounting as pure functions: time-weighted slices split at UTC midnight, month budgets (leap
years), exact compliance, degraded time as up time, and breaches as runs of failed probes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from exporter.core.clock import Month
from exporter.monitoring.services import SlaSettings, SlaTarget
from exporter.sla.accounting import DaySums, month_budget_seconds, month_sla, pool, slice_days
from exporter.sla.breaches import Breach, BreachDetector, close_stale, merge

TARGET = SlaTarget("99.9%", Decimal("0.999"))
SETTINGS = SlaSettings(breach_min_failures=2, breach_min_duration_ms=60_000, alert_min_events=20)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def test_a_slice_across_midnight_is_split_exactly_between_the_two_days() -> None:
    """A 15 s result at 00:00:10 on 1 March 2028 gives 5 s to 29 February (leap day) and 10 s to 1 March."""
    assert [("2028-02-29", DaySums(0, 0, 5_000, 5_000, 0)), ("2028-03-01", DaySums(1, 1, 10_000, 10_000, 0))] == \
        slice_days(ts("2028-03-01T00:00:10Z"), 15, success=False, degraded=False)


def test_a_result_ending_at_midnight_belongs_wholly_to_the_day_before() -> None:
    """The slice [23:59:45, 00:00:00) of a result at midnight on 1 January 2027 is all 31 December 2026."""
    assert [("2026-12-31", DaySums(1, 0, 15_000, 0, 15_000))] == slice_days(
        ts("2027-01-01T00:00:00Z"), 15, success=True, degraded=True)


BUDGETS = [("2028-02-15T12:00:00Z", 2505.6), ("2027-02-15T12:00:00Z", 2419.2), ("2026-11-18T00:00:00Z", 2592.0),
           ("2026-12-31T23:59:59Z", 2678.4)]


@pytest.mark.parametrize(("when", "seconds"), BUDGETS, ids=[
    "February 2028 (29 days) allows 41.76 minutes at 99.9%", "February 2027 (28 days) allows 40.32 minutes",
    "November (30 days) allows 43.2 minutes", "December (31 days) allows 44.64 minutes, up to its last second"])
def test_the_error_budget_is_the_target_times_the_whole_calendar_month(when: str, seconds: float) -> None:
    """The month's budget is (1 - target) x the whole month's length in UTC."""
    assert seconds == pytest.approx(month_budget_seconds(TARGET, Month.of(ts(when))), abs=1e-9)


def test_degraded_time_is_up_time_and_failed_time_is_downtime() -> None:
    """Slow but successful probes count as up (and as degraded); only failed ones are downtime."""
    days = {"2026-11-18": [DaySums(results=100, failures=1, observed_ms=1_500_000, down_ms=15_000,
                                   degraded_ms=300_000)]}
    sla = month_sla("api", TARGET, Month.of(ts("2026-11-18T12:00:00Z")), days, [], ts("2026-11-18T12:00:00Z"))
    assert (Fraction(99, 100), 15.0, 300.0, 1500.0, False) == (
        sla.uptime, sla.downtime_seconds, sla.degraded_seconds, sla.observed_seconds, sla.compliant)
    assert 2592.0 - 15.0 == sla.budget_remaining_seconds


def test_compliance_is_exact_at_the_target() -> None:
    """1 s down in 1000 s is exactly 99.9 %: compliant; 1.001 s down is not (no float rounding either way)."""
    month, now = Month.of(ts("2026-11-18T12:00:00Z")), ts("2026-11-18T12:00:00Z")

    def compliant(down_ms: int) -> bool | None:
        days = {"2026-11-18": [DaySums(1000, 1, 1_000_000, down_ms, 0)]}
        return month_sla("api", TARGET, month, days, [], now).compliant

    assert (True, False) == (compliant(1_000), compliant(1_001))


def test_no_data_is_unknown_not_one_hundred_percent() -> None:
    """Without a single probe result uptime and compliance are None and the whole budget remains."""
    sla = month_sla("api", TARGET, Month.of(ts("2026-11-18T12:00:00Z")), {}, [], ts("2026-11-18T12:00:00Z"))
    assert (None, None, 0.0, 2592.0) == (sla.uptime, sla.compliant, sla.downtime_seconds, sla.budget_remaining_seconds)


def test_only_the_months_own_days_count() -> None:
    """On 1 January, December's downtime no longer counts; January's does."""
    days = {"2026-12-31": [DaySums(4, 4, 60_000, 60_000, 0)], "2027-01-01": [DaySums(4, 1, 60_000, 15_000, 0)]}
    now = ts("2027-01-01T00:01:00Z")
    sla = month_sla("api", TARGET, Month.of(now), days, [], now)
    assert ("2027-01", 15.0, Fraction(3, 4)) == (sla.month.key, sla.downtime_seconds, sla.uptime)


def test_two_observers_of_one_outage_are_not_double_counted() -> None:
    """Two replicas that both saw 60 s down in 1000 s: 60 s of downtime, not 120 s."""
    pooled = pool([DaySums(66, 4, 1_000_000, 60_000, 0), DaySums(66, 4, 1_000_000, 60_000, 0)])
    assert (Fraction(1_000_000), Fraction(60_000), Fraction(47, 50)) == (pooled.observed, pooled.down, pooled.uptime())


RUNS = [
    ([False], 15, []),
    ([False, False], 15, [(2, None)]),
    ([False, False, False, True], 15, [(3, "ended")]),
    ([False, True, False, True], 15, []),
    ([False], 3600, [(1, None)]),
    ([False, False, False, False], 10, [(4, None)]),
]


@pytest.mark.parametrize(("results", "interval", "breaches"), RUNS, ids=[
    "one failure of a 15 s probe is a blip, not a breach",
    "two consecutive failures are a breach, ongoing",
    "three failures then a success are one breach that ended",
    "failures separated by a success never add up",
    "one failure of an hourly probe covers an hour: a breach",
    "four failures of a 10 s probe: one breach that grows to four failures",
])
def test_a_breach_is_a_run_of_failures_long_enough_to_matter(results: list[bool], interval: int,
                                                             breaches: list[tuple[int, str | None]]) -> None:
    """A run of failed probes becomes a breach at 2 failures or 1 minute covered, and ends with a success."""
    detector = BreachDetector("api", "a")
    seen: dict[str, Breach] = {}
    t = ts("2026-11-18T10:00:00Z")
    for success in results:
        t += interval
        found = detector.observe(success=success, at=t, weight_seconds=interval, detail="HTTP 503", settings=SETTINGS)
        if found is not None:
            seen[found.id] = found
    assert breaches == [(b.failures, None if b.ongoing else "ended") for b in seen.values()]


def test_a_breach_spans_its_failed_slices() -> None:
    """Three failed 15 s probes at :15, :30, :45 make a breach from :00 to :45: 45 s, the downtime it holds."""
    detector = BreachDetector("api", "a")
    start = ts("2026-11-18T10:00:00Z")
    for i in (1, 2, 3):
        detector.observe(success=False, at=start + 15 * i, weight_seconds=15, detail="HTTP 503", settings=SETTINGS)
    ended = detector.observe(success=True, at=start + 60, weight_seconds=15, detail="HTTP 200", settings=SETTINGS)
    assert ended is not None
    assert (start, start + 45, 45.0) == (ended.started_at, ended.ended_at, ended.duration_seconds(start + 3600))


def breach(start: float, end: float | None, observer: str = "a", last: float | None = None) -> Breach:
    return Breach(f"api-{observer}-{start}", "api", observer, start, last if last is not None else (end or start),
                  3, end, "HTTP 503")


def test_overlapping_breaches_of_two_observers_merge_into_one() -> None:
    """Replica a saw 100..200, replica b saw 150..260: one breach 100..260; a later one stays separate."""
    merged = merge([breach(100, 200, "a"), breach(150, 260, "b"), breach(400, 430, "a")])
    assert [(100, 260), (400, 430)] == [(b.started_at, b.ended_at) for b in merged]


def test_an_open_breach_whose_observer_went_silent_ends_at_its_last_failure() -> None:
    """An ongoing breach without a failure for longer than the staleness limit ends where its failures stopped."""
    settled = close_stale([breach(100, None, last=190), breach(300, None, last=990)], now=1000, stale_after=60)
    assert [(100, 190), (300, None)] == [(b.started_at, b.ended_at) for b in settled]
