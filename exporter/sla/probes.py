"""Synthetic probes: is each service answering? Run in the background, one schedule per service.

Every service of monitoring.yml (``services:``; ``api`` and ``database`` built in) is probed
every ``interval`` with its ``timeout`` (what a probe does: ``checks.py``). A result
stands for the ``interval`` before it (its *weight*): that is how uptime is time-weighted.
A service is also probed once as soon as it is known (at start, or added by a reload), so health
and the status page show its state at once rather than after a whole interval; that result
stands for no time (weight 0), and until the service's timeout it retries a service that does not
answer yet (the service's own listener opens only after start-up). Each
result is exported here (the latest as ``tenant_exporter_probe_success`` and
``..._probe_duration_seconds``, totals as counters) and handed to the SLA tracker, which
persists it in batches. The ``uptime`` signal averages ``tenant_exporter_probe_success{service="api"}``.

Schedules run on the event loop's own clock (``asyncio.sleep``), so a test's injected clock only
stamps results: it never makes probes run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.core.clock import Clock
from exporter.monitoring.services import ServiceConfig
from exporter.sla.checks import Check

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.1  # between the attempts of a service's first probe


@dataclass(frozen=True, slots=True)
class ProbeResult:
    service: str
    success: bool
    duration_seconds: float
    detail: str = ""
    at: float = 0.0  # Unix time the probe started
    weight_seconds: float = 0.0  # the time it stands for: the service's interval, ending at `at`
    degraded: bool = False  # successful, but slower than the service's `degraded_above`


@dataclass(slots=True)
class _Totals:
    results: int = 0
    failures: int = 0
    observed: float = 0.0
    down: float = 0.0


class ProbeCollector(Collector):
    """The latest result and running totals per service; ``collect()`` never probes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._latest: dict[str, ProbeResult] = {}
        self._totals: dict[str, _Totals] = {}
        registry.register(self)

    def ensure(self, services: Iterable[str]) -> None:
        """Export zeroed counters for these services from the start (so ``increase()`` sees them begin)."""
        for name in services:
            self._totals.setdefault(name, _Totals())

    def record(self, *results: ProbeResult) -> None:
        for r in results:
            totals = self._totals.setdefault(r.service, _Totals())
            totals.results += 1
            totals.observed += r.weight_seconds
            if not r.success:
                totals.failures += 1
                totals.down += r.weight_seconds
        self._latest = {**self._latest, **{r.service: r for r in results}}

    @property
    def latest(self) -> dict[str, ProbeResult]:
        return self._latest

    def describe(self) -> list[Metric]:
        return list(self._families({}, {}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._latest, self._totals)

    @staticmethod
    def _families(latest: dict[str, ProbeResult], totals: dict[str, _Totals]) -> Iterator[Metric]:
        success = GaugeMetricFamily("tenant_exporter_probe_success",
                                    "Whether the last probe of the service succeeded (1) or not (0).",
                                    labels=["service"])
        duration = GaugeMetricFamily("tenant_exporter_probe_duration_seconds",
                                     "How long the last probe of the service took.", labels=["service"])
        for service, result in sorted(latest.items()):
            success.add_metric([service], 1.0 if result.success else 0.0)
            duration.add_metric([service], result.duration_seconds)
        yield success
        yield duration
        families = (
            ("tenant_exporter_probes", "Probes of the service.", "results"),
            ("tenant_exporter_probe_failures", "Failed probes of the service.", "failures"),
            ("tenant_exporter_probe_observed_seconds",
             "Time covered by probes of the service (each result stands for its interval).", "observed"),
            ("tenant_exporter_probe_downtime_seconds", "Time covered by failed probes of the service.", "down"),
        )
        for name, documentation, field in families:
            family = CounterMetricFamily(name, documentation, labels=["service"])
            for service, t in sorted(totals.items()):
                family.add_metric([service], float(getattr(t, field)))
            yield family


ResultSink = Callable[[ProbeResult], None]


class ProbeRunner:
    """Probes every configured service on its own schedule; a reload changes the set at the next wake."""

    def __init__(self, services: Callable[[], Sequence[ServiceConfig]], make_check: Callable[[ServiceConfig], Check],
                 clock: Clock, sinks: Sequence[ResultSink], *, at_start: bool = True) -> None:
        self._services = services
        self._at_start = at_start
        self._make_check = make_check
        self._clock = clock
        self._sinks = list(sinks)
        self._checks: dict[str, tuple[ServiceConfig, Check]] = {}

    def _sync(self) -> dict[str, tuple[ServiceConfig, Check]]:
        """Checks for the current services; an unchanged service keeps its check."""
        current = {}
        for service in self._services():
            kept = self._checks.get(service.name)
            current[service.name] = kept if kept is not None and kept[0] == service else (
                service, self._make_check(service))
        self._checks = current
        return current

    async def probe(self, service: ServiceConfig, check: Check, *, first: bool = False) -> ProbeResult:
        """One probe within the service's timeout; any failure is a result, never an exception.

        ``first``: the probe when the service becomes known: weight 0, and a failure is tried
        again (every 0.1 s) until the timeout runs out, so a service still starting is not down.
        """
        at = self._clock.now()
        start = time.perf_counter()
        while True:
            attempt = time.perf_counter()
            ok, detail = await self._attempt(service, check, service.timeout_ms / 1000 - (attempt - start))
            left = service.timeout_ms / 1000 - (time.perf_counter() - start)
            if ok or not first or left <= RETRY_SECONDS:
                break
            await asyncio.sleep(RETRY_SECONDS)
        duration = time.perf_counter() - attempt
        slow = service.degraded_above_ms is not None and duration * 1000 > service.degraded_above_ms
        weight = 0.0 if first else service.interval_ms / 1000
        result = ProbeResult(service.name, ok, duration, detail, at, weight, ok and slow)
        if not ok:
            log.warning("probe of %s failed: %s", service.name, detail)
        for sink in self._sinks:
            sink(result)
        return result

    @staticmethod
    async def _attempt(service: ServiceConfig, check: Check, seconds: float) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(seconds):
                return await check.run()
        except TimeoutError:
            return False, f"no answer within {service.timeout_ms / 1000:g}s"
        except Exception as e:  # a probe reports every failure, whatever raised it
            return False, f"{type(e).__name__}: {e}".rstrip(": ")

    async def run_once(self) -> list[ProbeResult]:
        """Probe every service now, concurrently."""
        checks = self._sync()
        return list(await asyncio.gather(*(self.probe(service, check) for service, check in checks.values())))

    async def run_forever(self) -> None:
        """Probe each service every interval (fixed cadence) from one interval after the start, and
        once right away when it becomes known (unless ``at_start`` is off)."""
        loop = asyncio.get_running_loop()
        due: dict[str, tuple[ServiceConfig, float]] = {}
        running: dict[str, asyncio.Task[ProbeResult]] = {}
        try:
            while True:
                now = loop.time()
                for name, (service, check) in self._sync().items():
                    scheduled = due.get(name)
                    if scheduled is None or scheduled[0] != service:  # new, or changed by a reload
                        if scheduled is None and self._at_start:
                            running[name] = asyncio.create_task(self.probe(service, check, first=True),
                                                                name=f"probe-{name}-first")
                        due[name] = scheduled = (service, now + service.interval_ms / 1000)
                    if now >= scheduled[1]:
                        if name not in running or running[name].done():  # else the slot is skipped
                            running[name] = asyncio.create_task(self.probe(service, check), name=f"probe-{name}")
                        following = scheduled[1] + service.interval_ms / 1000
                        due[name] = (service, following if following > now else now + service.interval_ms / 1000)
                for name in set(due) - set(self._checks):
                    del due[name]
                wake = min((when for _, when in due.values()), default=now + 1.0)
                await asyncio.sleep(min(max(wake - loop.time(), 0.0), 1.0))
        finally:
            for task in running.values():
                task.cancel()
            for task in running.values():
                with suppress(asyncio.CancelledError):
                    await task
