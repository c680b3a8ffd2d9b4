"""The agreement table: input series over time -> the alerts expected to fire at each evaluation.

One table drives both evaluators (``tests/test_agreement.py``): it is turned into a
``promtool test rules`` file run against the committed ``rules/``, and replayed into a real
``CollectorRegistry`` read by the in-process evaluator. Both must fire exactly the expected
set at *every* evaluation time, and record the same rounded signal values.

A scenario is phases of traffic and gauge values, at the shipped config's 15 s evaluation
interval and 5 m window (21 samples, 20 increments). Expected firing is written as intervals
``[start, end)`` per alert; the comment on each scenario shows the arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.core.durations import parse_duration

STEP_MS = 15_000
JOB, INSTANCE = "tenant-exporter", "tenant-exporter:8000"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)  # the service's


@dataclass(frozen=True)
class Requests:
    """``n`` requests in each evaluation step, each taking ``seconds``, answered with ``status``."""

    n: int
    seconds: float = 0.02
    status: int = 200
    method: str = "GET"
    route: str = "/api/tenant/config"
    tenant: str = "acme"


FAST = (Requests(10),)


@dataclass(frozen=True)
class Phase:
    until: str  # this phase's state holds for evaluation times < until
    traffic: tuple[Requests, ...] = FAST
    cpu: float | None = 0.3  # None: the series does not exist (yet)
    memory: float | None = 0.5
    probe: float | None = 1.0  # tenant_exporter_probe_success{service="api"}


@dataclass(frozen=True)
class Scenario:
    id: str
    phases: tuple[Phase, ...]
    firing: Mapping[str, tuple[tuple[str, str | None], ...]] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return parse_duration(self.phases[-1].until) // STEP_MS

    def phase_at(self, step: int) -> Phase:
        t = step * STEP_MS
        return next(p for p in self.phases if t < parse_duration(p.until))

    def expected(self, step: int) -> set[str]:
        """The alertnames expected to be firing at evaluation ``step``."""
        t = step * STEP_MS
        return {name for name, spans in self.firing.items() for start, end in spans
                if parse_duration(start) <= t < (parse_duration(end) if end else 1 << 62)}

    def request_kinds(self) -> list[Requests]:
        kinds = {(r.method, r.route, r.status, r.tenant): r for p in self.phases for r in p.traffic}
        return [kinds[k] for k in sorted(kinds)]


SLOW_MIX = (Requests(7, 1.5), Requests(3))  # p95 = 1 + 1.5 * (190 - 60) / 140 = 2.39 s

SCENARIOS = [
    Scenario("a healthy service fires nothing", (Phase("10m"),)),
    # p95 = 1 + 1.5 * 0.95 = 2.425 s from the second sample (15 s): pending at 15 s, firing at 5m15s.
    Scenario("slow responses fire the error and the warning at once", (Phase("8m", (Requests(10, 1.5),)),),
             {"ResponseTimeCritical": (("5m15s", None),), "ResponseTimeWarning": (("5m15s", None),)}),
    # p95 = 0.5 + 0.25 * 0.95 = 0.7375 s: above 500 ms, below 1000 ms.
    Scenario("moderately slow responses fire only the warning", (Phase("8m", (Requests(10, 0.6),)),),
             {"ResponseTimeWarning": (("5m15s", None),)}),
    # From 10m all fast. k steps later the window holds 7(19-k) slow and 67 + 7k fast of 200 requests: the
    # p95 rank (190) stays in the slow bucket for k <= 17 (14m15s); at k = 18 (14m30s) both alerts resolve.
    Scenario("slow then fast: the response-time alerts resolve", (Phase("10m", SLOW_MIX), Phase("17m")),
             {"ResponseTimeCritical": (("5m15s", "14m30s"),), "ResponseTimeWarning": (("5m15s", "14m30s"),)}),
    # 10 % errors, then none from 10m: k steps later the ratio is (19-k)/200; at k = 9 (12m15s) it is exactly
    # 0.05, which is not > 5 % on either side (the float-boundary trap), so the alert resolves there.
    Scenario("errors above 5% fire, and exactly 5% resolves",
             (Phase("10m", (Requests(18), Requests(2, status=500))), Phase("15m", (Requests(20),))),
             {"ErrorRateHigh": (("5m15s", "12m15s"),)}),
    # Two failed probes (1m, 1m15s): uptime < 99 % while they are in the window (until 6m15s); for 2m.
    Scenario("failed probes fire low uptime, which resolves",
             (Phase("1m"), Phase("1m30s", probe=0.0), Phase("9m")),
             {"UptimeLow": (("3m", "6m30s"),)}),
    # CPU 90 % then 10 % from 15m: k samples later avg = (0.9(20-k) + 0.1(k+1)) / 21 > 0.8 only for k <= 1.
    Scenario("CPU above 80% for 10 minutes fires, then resolves", (Phase("15m", cpu=0.9), Phase("18m", cpu=0.1)),
             {"CpuUsageHigh": (("10m", "15m30s"),)}),
    # CPU 95 % for 6 minutes: the average stays above 80 % until 6m45s, pending 7 minutes < for 10m.
    Scenario("a CPU spike shorter than `for` stays pending", (Phase("6m", cpu=0.95), Phase("12m", cpu=0.2))),
    # Memory 90 % then 50 %: avg = (0.9(20-k) + 0.5(k+1)) / 21 > 0.85 only for k <= 1.
    Scenario("memory above 85% for 10 minutes fires, then resolves",
             (Phase("15m", memory=0.9), Phase("18m", memory=0.5)),
             {"MemoryUsageHigh": (("10m", "15m30s"),)}),
    # 9 of 180 requests fail: exactly 5 %, but rate(500)/sum(rate) is 0.05000000000000001 in floats (and
    # 0.049999999999999996 when promtool happens to add the series the other way round). Compared at 0.01 %
    # precision it is 5 %, which is not above 5 %: nothing fires, on both sides, every time.
    Scenario("exactly 5% errors is not above 5% despite float noise",
             (Phase("15m", (Requests(171), Requests(9, status=500))),)),
    Scenario("an error and a warning from different signals at once",
             (Phase("12m", (Requests(18), Requests(2, status=500)), cpu=0.9),),
             {"ErrorRateHigh": (("5m15s", None),), "CpuUsageHigh": (("10m", None),)}),
    # Series exist but nothing is requested: 0/0 is absent, not zero, on both sides.
    Scenario("no traffic at all fires nothing", (Phase("10m", (Requests(0),)),)),
    # Nothing at all: only the explicit no-data rule fires (absent from 0, for 2m); probes return at 10m.
    Scenario("no data at all fires only the no-data rule",
             (Phase("10m", (), cpu=None, memory=None, probe=None), Phase("12m", (), cpu=None, memory=None)),
             {"UptimeNoData": (("2m", "10m"),)}),
]
