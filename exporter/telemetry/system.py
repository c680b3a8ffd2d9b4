"""Process and host resources, and event-loop lag, sampled in the background.

A scrape never calls psutil: ``SystemSampler.sample()`` runs in a background task and swaps
in an immutable snapshot; ``SystemCollector.collect()`` only reads the latest one. The
loop-lag ticker measures how late the event loop wakes a sleeper, which is the latency every
request on this asyncio service shares when something blocks the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import psutil
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LAG_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    cpu_ratio: float
    memory_ratio: float
    memory_total_bytes: float
    memory_available_bytes: float
    process_cpu_ratio: float
    process_threads: int


def read_system(process: psutil.Process) -> SystemSnapshot:
    """One psutil reading (CPU figures are since the previous reading)."""
    memory = psutil.virtual_memory()
    return SystemSnapshot(
        cpu_ratio=psutil.cpu_percent(interval=None) / 100.0,
        memory_ratio=(memory.total - memory.available) / memory.total if memory.total else 0.0,
        memory_total_bytes=float(memory.total),
        memory_available_bytes=float(memory.available),
        process_cpu_ratio=process.cpu_percent(interval=None) / 100.0,
        process_threads=process.num_threads(),
    )


class SystemCollector(Collector):
    """Yields the latest snapshot; never does I/O in ``collect()``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._process = psutil.Process()
        self.snapshot: SystemSnapshot | None = None
        registry.register(self)

    def sample(self) -> SystemSnapshot:
        self.snapshot = read_system(self._process)
        return self.snapshot

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family names, so ``name[]`` filtering finds this collector."""
        snap = self.snapshot or SystemSnapshot(0, 0, 0, 0, 0, 0)
        yield from self._families(snap)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.snapshot is not None:
            yield from self._families(self.snapshot)

    @staticmethod
    def _families(snap: SystemSnapshot) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("system_cpu_usage_ratio", "Host CPU busy share (0..1) over the last sample interval.",
                                value=snap.cpu_ratio)
        yield GaugeMetricFamily("system_memory_usage_ratio", "Host memory in use (total - available) / total.",
                                value=snap.memory_ratio)
        yield GaugeMetricFamily("system_memory_total_bytes", "Host memory, total.", value=snap.memory_total_bytes)
        yield GaugeMetricFamily("system_memory_available_bytes", "Host memory available without swapping.",
                                value=snap.memory_available_bytes)
        yield GaugeMetricFamily("process_cpu_usage_ratio",
                                "This process's CPU use over the last sample interval (1.0 = one core).",
                                value=snap.process_cpu_ratio)
        yield GaugeMetricFamily("process_threads", "Number of OS threads in this process.",
                                value=snap.process_threads)


class LoopLagMonitor:
    """Sleeps ``interval`` seconds in a loop and records how late each wake-up was."""

    def __init__(self, registry: CollectorRegistry, interval: float = 0.1) -> None:
        self.interval = interval
        self.histogram = Histogram(
            "tenant_exporter_event_loop_lag_seconds",
            "How late the event loop ran a timer that was due (a blocked loop delays every request).",
            buckets=LAG_BUCKETS, registry=registry,
        )
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            lag = max(0.0, time.perf_counter() - due)
            self.worst = max(self.worst, lag)
            self.histogram.observe(lag)
