"""SLA accounting, calendar month to date (UTC): pure functions over daily sums and breaches.

Definitions (docs/alerting.md, "SLA"):

- A probe result stands for the service's probe interval before it (``[at - interval, at)``).
  **Observed time** is the time covered by results; **downtime** the time covered by failed
  ones. A successful but slow result is *degraded* time, which is up time, never downtime.
  Time without results (the service stopped) is not observed: it is neither up nor down.
- **Unobserved time** is time since monitoring of the service began that no replica observed
  (``coverage.py``). The service's policy says what it is: ``down`` (the default for ``api``: a
  stopped service answers nothing) adds it to the downtime and to the period; ``exclude`` leaves
  it out of both. It is reported either way, with the *coverage*: the observed share of the time
  since monitoring began.
- **Uptime** = (period - downtime) / period over the month so far, where the period is the observed
  time (plus the unobserved time under ``down``); ``None`` with no data (never a made-up 100 %).
  **Compliant** = uptime >= target, compared exactly (fractions of milliseconds against the
  target's decimal).
- **Error budget** = (1 - target) x the length of the whole calendar month (28 to 31 days);
  **remaining** = budget - downtime (negative once overspent).
- A **breach** is an outage incident (``breaches.py``); breaches of the month are those
  with any part inside it.

Slices are split exactly at UTC midnight, so a month (and a day of the 90-day history) gets
exactly its own time. With several replicas each is an *observer* with rows of its own; a day's
figures pool them: the share of failed observations, applied to the best-covered observer's
time (with one observer these are exactly its sums).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from exporter.core.clock import Month
from exporter.monitoring.services import SlaTarget
from exporter.sla.breaches import Breach

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DaySums:
    """Additive sums of one observer's probe results of one service on one UTC day."""

    results: int = 0
    failures: int = 0
    observed_ms: int = 0
    down_ms: int = 0
    degraded_ms: int = 0

    def __add__(self, other: DaySums) -> DaySums:
        return DaySums(self.results + other.results, self.failures + other.failures,
                       self.observed_ms + other.observed_ms, self.down_ms + other.down_ms,
                       self.degraded_ms + other.degraded_ms)


def day_key(ts: float) -> str:
    """``2028-02-29`` for any time on that UTC day."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def last_days(ts: float, count: int) -> list[str]:
    """The ``count`` UTC days ending with the day of ``ts``, oldest first."""
    today = datetime.fromtimestamp(ts, UTC).date()
    return [(today - timedelta(days=count - 1 - i)).isoformat() for i in range(count)]


def slice_days(at: float, weight_seconds: float, *, success: bool, degraded: bool) -> list[tuple[str, DaySums]]:
    """One result as per-day sums: its slice ``[at - weight, at)`` split at UTC midnight (milliseconds).

    The result itself (a count) belongs to the day of the slice's last millisecond.
    """
    end = round(at * 1000)
    start = end - round(weight_seconds * 1000)
    out: list[tuple[str, DaySums]] = []
    cursor = start
    while cursor < end:
        day_end = (cursor // DAY_MS + 1) * DAY_MS
        piece = min(end, day_end) - cursor
        out.append((day_key(cursor / 1000), DaySums(0, 0, piece, 0 if success else piece,
                                                    piece if success and degraded else 0)))
        cursor += piece
    count = DaySums(1, 0 if success else 1)
    counted_day = day_key((end - 1) / 1000) if end > start else day_key(at)
    for i, (day, sums) in enumerate(out):
        if day == counted_day:
            out[i] = (day, sums + count)
            break
    else:
        out.append((counted_day, count))
    return out


@dataclass(frozen=True, slots=True)
class Pooled:
    """A day's (or a period's) figures once observers are pooled, in milliseconds (exact fractions)."""

    observed: Fraction = Fraction(0)
    down: Fraction = Fraction(0)
    degraded: Fraction = Fraction(0)
    results: int = 0
    failures: int = 0
    unobserved: Fraction = Fraction(0)  # time nobody observed (from the sessions, not the probes)

    def __add__(self, other: Pooled) -> Pooled:
        return Pooled(self.observed + other.observed, self.down + other.down, self.degraded + other.degraded,
                      self.results + other.results, self.failures + other.failures,
                      self.unobserved + other.unobserved)

    def counted(self, policy: str) -> tuple[Fraction, Fraction]:
        """``(period, downtime)`` under the unobserved-time policy (``down`` or ``exclude``)."""
        if policy == "down":
            return self.observed + self.unobserved, self.down + self.unobserved
        return self.observed, self.down

    def uptime(self, policy: str = "exclude") -> Fraction | None:
        period, down = self.counted(policy)
        return None if period == 0 else 1 - down / period


def pool(rows: Iterable[DaySums]) -> Pooled:
    """Observers of one day pooled: shares of all their observations, over the best observer's coverage."""
    rows = [r for r in rows if r.results or r.observed_ms]
    if not rows:
        return Pooled()
    total = sum(r.observed_ms for r in rows)
    best = max(r.observed_ms for r in rows)
    results, failures = sum(r.results for r in rows), sum(r.failures for r in rows)
    if len(rows) == 1:
        r = rows[0]
        return Pooled(Fraction(r.observed_ms), Fraction(r.down_ms), Fraction(r.degraded_ms), results, failures)
    if total == 0:
        return Pooled(results=results, failures=failures)
    scale = Fraction(best, total)
    return Pooled(Fraction(best), sum(r.down_ms for r in rows) * scale, sum(r.degraded_ms for r in rows) * scale,
                  results, failures)


@dataclass(frozen=True, slots=True)
class ServiceSla:
    service: str
    target: SlaTarget
    month: Month
    observed_seconds: float
    downtime_seconds: float
    degraded_seconds: float | None  # None when the source cannot tell (Prometheus)
    uptime: Fraction | None
    compliant: bool | None
    budget_seconds: float
    budget_remaining_seconds: float
    breaches: int
    breach_list: tuple[Breach, ...] = ()
    unobserved_seconds: float = 0.0  # nobody observed it (counted in downtime_seconds under the `down` policy)
    coverage: Fraction | None = None  # the observed share of the time since monitoring began
    policy: str = "exclude"

    @property
    def budget_remaining_ratio(self) -> float:
        return self.budget_remaining_seconds / self.budget_seconds


def month_budget_seconds(target: SlaTarget, month: Month) -> float:
    """(1 - target) x the whole month's length: 43.2 min for 99.9 % of 30 days, 41.76 min for February 2028."""
    return float(target.budget * int(month.end - month.start))


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the sessions say about one service: unobserved milliseconds per day, and since monitoring began."""

    unobserved: Mapping[str, int]  # day -> ms nobody observed
    elapsed_ms: int  # this month so far, since monitoring began
    policy: str = "exclude"


def pooled_day(days: Mapping[str, Sequence[DaySums]], coverage: Coverage | None, day: str) -> Pooled:
    found = pool(days.get(day, ()))
    missed = coverage.unobserved.get(day, 0) if coverage is not None else 0
    return Pooled(found.observed, found.down, found.degraded, found.results, found.failures, Fraction(missed))


def month_sla(service: str, target: SlaTarget, month: Month, days: Mapping[str, Sequence[DaySums]],
              breaches: Sequence[Breach], now: float, coverage: Coverage | None = None) -> ServiceSla:
    """The month-to-date figures of one service from its days (observer rows), coverage and breaches."""
    prefix = month.key + "-"
    names = set(days) | set(coverage.unobserved if coverage else ())
    total = sum((pooled_day(days, coverage, day) for day in names if day.startswith(prefix)), Pooled())
    policy = coverage.policy if coverage is not None else "exclude"
    uptime = total.uptime(policy)
    mine = tuple(sorted((b for b in breaches if b.overlaps(month.start, month.end, now)), key=lambda b: b.started_at))
    budget = month_budget_seconds(target, month)
    downtime = float(total.counted(policy)[1]) / 1000
    elapsed = coverage.elapsed_ms if coverage is not None else 0
    return ServiceSla(
        service=service, target=target, month=month, observed_seconds=float(total.observed) / 1000,
        downtime_seconds=downtime, degraded_seconds=float(total.degraded) / 1000, uptime=uptime,
        compliant=None if uptime is None else uptime >= Fraction(target.ratio), budget_seconds=budget,
        budget_remaining_seconds=budget - downtime, breaches=len(mine), breach_list=mine,
        unobserved_seconds=float(total.unobserved) / 1000,
        coverage=None if elapsed <= 0 else max(Fraction(0), 1 - total.unobserved / elapsed), policy=policy,
    )


def daily_uptime(days: Mapping[str, Sequence[DaySums]], wanted: Sequence[str], coverage: Coverage | None = None,
                 ) -> list[tuple[str, Pooled]]:
    """Each day asked for, pooled (its uptime under the policy is ``.uptime(policy)``; None without data)."""
    return [(day, pooled_day(days, coverage, day)) for day in wanted]


def overall(figures: Sequence[ServiceSla]) -> Fraction | None:
    """Uptime over all services: the share of their counted time that was up (pooled, time-weighted)."""
    def period(f: ServiceSla) -> Fraction:
        unobserved = Fraction(f.unobserved_seconds) if f.policy == "down" else Fraction(0)
        return Fraction(f.observed_seconds) + unobserved

    counted = [f for f in figures if f.uptime is not None]
    total = sum((period(f) for f in counted), Fraction(0))
    if total == 0:
        return None
    return 1 - sum((Fraction(f.downtime_seconds) for f in counted), Fraction(0)) / total
