"""Rendering ``/metrics``: content negotiation and gzip as prometheus_client does, without stalling.

prometheus_client's own aiohttp handler renders the whole registry on the event loop (~100 ms
for 600 label sets, during which no request moves). Rendering in a worker thread is not enough
either: the render holds the GIL, and the loop waits for it (measured: 5-20 ms stalls). Here the
rendering is cooperative: the registry's families are pulled one at a time, large families are
rendered in slices of ``SLICE_SAMPLES`` samples with prometheus_client's own encoders, and the
loop gets control back whenever a millisecond has passed (``core/pacing.py``). gzip runs
incrementally at level 1 (about 20x cheaper than level 9 for a similar size on exposition text).
Concurrent scrapes asking for the same format share one rendering (single flight).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.core.pacing import Pacer

GZIP_LEVEL: Final = 1
SLICE_SAMPLES: Final = 50
RENDER_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_EOF: Final = b"# EOF\n"


class _One:
    """A collector of one (partial) family, to hand a slice to prometheus_client's encoders."""

    __slots__ = ("metric",)

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> list[Metric]:
        return [self.metric]


def _slices(metric: Metric, size: int) -> Iterator[Metric]:
    if len(metric.samples) <= size:
        yield metric
        return
    for start in range(0, len(metric.samples), size):
        part = Metric(metric.name, metric.documentation, metric.type, metric.unit)
        part.samples = metric.samples[start : start + size]
        yield part


def _without_header(text: bytes) -> bytes:
    """Drop the ``# HELP`` / ``# TYPE`` / ``# UNIT`` lines a continuation slice repeats."""
    lines = text.split(b"\n")
    first = next((i for i, line in enumerate(lines) if not line.startswith(b"#")), len(lines))
    return b"\n".join(lines[first:])


class MetricsRenderer:
    """Renders a registry cooperatively on the event loop, one rendering per format at a time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._inflight: dict[tuple[str, tuple[str, ...], bool], asyncio.Task[bytes]] = {}
        self.render_seconds = Histogram(
            "tenant_exporter_metrics_render_seconds",
            "Wall time to render (and compress) one /metrics answer, yielding to requests meanwhile.",
            ["encoding"], buckets=RENDER_BUCKETS, registry=registry,
        )
        self.renders = 0

    async def render(self, accept: str, names: tuple[str, ...], compress: bool) -> tuple[bytes, str]:
        """Return (body, content type); concurrent identical requests share one rendering."""
        encoder, content_type = choose_encoder(accept)
        key = (content_type, names, compress)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._render(encoder, content_type, names, compress))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task), content_type

    async def _render(self, encoder: Callable[[Any], bytes], content_type: str,
                      names: tuple[str, ...], compress: bool) -> bytes:
        start = time.perf_counter()
        source: Collector = self._registry.restricted_registry(names) if names else self._registry
        openmetrics = content_type.startswith("application/openmetrics-text")
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None
        parts: list[bytes] = []
        pacer = Pacer()
        for metric in source.collect():
            for index, part in enumerate(_slices(metric, SLICE_SAMPLES)):
                text = encoder(_One(part))
                if openmetrics and text.endswith(_EOF):
                    text = text[: -len(_EOF)]
                if index:
                    text = _without_header(text)
                parts.append(gz.compress(text) if gz else text)
                if pacer.due():
                    await pacer.pause()
        if openmetrics:
            parts.append(gz.compress(_EOF) if gz else _EOF)
        if gz:
            parts.append(gz.flush())
        self.renders += 1
        self.render_seconds.labels("gzip" if compress else "identity").observe(time.perf_counter() - start)
        return b"".join(parts)

    def close(self) -> None:
        for task in self._inflight.values():
            task.cancel()


def gzip_accepted(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            q = params.strip().removeprefix("q=")
            return not (params.strip().startswith("q=") and _float(q) == 0.0)
    return False


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return 1.0
