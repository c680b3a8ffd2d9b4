"""Synthetic probes: is each service answering? The ``uptime`` signal is the share of successes.

Each probe result is exported as ``tenant_exporter_probe_success{service}`` (1 or 0) and
``tenant_exporter_probe_duration_seconds{service}``; the evaluator snapshots the first like any
gauge, and Prometheus averages it over the window the same way.

Extension point: a probe is anything with a ``service`` name and an async ``check()``
(``Probe``); ``build_probes`` decides which run. Today that is the service's own API (a real
HTTP GET of ``/-/ready`` on its own listener, with a timeout); more services (the database,
HTTP or TCP endpoints from monitoring.yml) are more entries in that list.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.monitoring_config import ProbeSettings
from exporter.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    service: str
    success: bool
    duration_seconds: float
    detail: str = ""


class Probe(Protocol):
    service: str

    async def check(self) -> ProbeResult: ...


class HttpProbe:
    """GET ``url``; success is the expected status within the timeout."""

    def __init__(self, service: str, url: str, session: aiohttp.ClientSession, timeout: Callable[[], float],
                 expected_status: int = 200) -> None:
        self.service = service
        self.url = url
        self._session = session
        self._timeout = timeout  # seconds, re-read at each check (a reload applies)
        self._expected = expected_status

    async def check(self) -> ProbeResult:
        start = time.perf_counter()
        try:
            timeout = aiohttp.ClientTimeout(total=self._timeout())
            async with self._session.get(self.url, timeout=timeout, allow_redirects=False) as response:
                await response.read()
                ok = response.status == self._expected
                detail = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        return ProbeResult(self.service, ok, time.perf_counter() - start, detail)


def api_probe_url(settings: Settings) -> str:
    """``PROBE_API_URL``, else ``/-/ready`` on the listener this process serves (loopback for a wildcard host)."""
    if settings.probe_api_url:
        return settings.probe_api_url
    return f"{settings.listener_url}/-/ready"


def build_probes(
    settings: Settings, probes: Callable[[], ProbeSettings], session: aiohttp.ClientSession
) -> list[Probe]:
    """The probes to run. Issue 6 adds the database and configured HTTP/TCP services here."""
    return [HttpProbe("api", api_probe_url(settings), session, lambda: probes().timeout_ms / 1000)]


class ProbeCollector(Collector):
    """The latest result per service (an immutable dict swapped whole); ``collect()`` never probes."""

    def __init__(self) -> None:
        self._latest: dict[str, ProbeResult] = {}

    def record(self, *results: ProbeResult) -> None:
        self._latest = {**self._latest, **{r.service: r for r in results}}

    @property
    def latest(self) -> dict[str, ProbeResult]:
        return self._latest

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._latest)

    @staticmethod
    def _families(latest: dict[str, ProbeResult]) -> Iterator[Metric]:
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


class ProbeRunner:
    def __init__(self, probes: Sequence[Probe], results: ProbeCollector) -> None:
        self.probes = list(probes)
        self.results = results

    async def run_forever(self, interval_ms: Callable[[], int]) -> None:
        """Probe every interval (re-read each time); a failing probe is a result, never a crash."""
        while True:
            await asyncio.sleep(interval_ms() / 1000)
            try:
                await self.run_once()
            except Exception:
                log.exception("probing failed; retrying at the next interval")

    async def run_once(self) -> list[ProbeResult]:
        """Run every probe concurrently and record the results."""
        results = list(await asyncio.gather(*(probe.check() for probe in self.probes)))
        for result in results:
            if not result.success:
                log.warning("probe of %s failed: %s", result.service, result.detail)
        self.results.record(*results)
        return results
