"""Rendering ``/metrics``: content negotiation and gzip as prometheus_client does, without stalling.

prometheus_client's own aiohttp handler renders the whole registry on the event loop (~100 ms
for 600 label sets, during which no request moves). Rendering in a worker thread is not enough
either: the render holds the GIL, and the loop waits for it (measured: 5-20 ms stalls). Here the
rendering is cooperative: the registry's families are pulled one at a time, large families are
rendered in slices of ``SLICE_SAMPLES`` samples with prometheus_client's own encoders, and the
loop gets control back whenever a millisecond has passed (``core/pacing.py``). gzip runs
incrementally at level 1 (about 20x cheaper than level 9 for a similar size on exposition text).
Concurrent scrapes asking for the same format share one rendering (single flight).

Families with a series per tenant come from ``Source``s that keep their lines rendered ahead of the
scrape (``tenancy/metrics.py``): a scrape only takes their bytes. Each ``View`` is what one path
serves: ``/metrics``, and with ``TENANT_METRICS_PATH`` the per-tenant families on a path of their
own, for a slower scrape. ``tenant_exporter_metrics_samples{path}`` counts what each path served last.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.core.pacing import Pacer

GZIP_LEVEL: Final = 1
# Text is compressed in batches of this many bytes or once per slice, not piece by piece: zlib gives the
# GIL up for each call, and while another thread computes (a reload parsing YAML) the loop then waits
# up to the interpreter's switch interval (5 ms) to get it back, once per call: 46 ms in one slice.
GZIP_BATCH: Final = 256 * 1024
SLICE_SAMPLES: Final = 50
RENDER_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_EOF: Final = b"# EOF\n"
Header = Callable[[str, str], bytes]


class Source(Protocol):
    """Gauge families rendered ahead of the scrape: each chunk of text and how many samples it holds."""

    def chunks(self, header: Header, wanted: Callable[[str], bool]) -> Iterator[tuple[bytes, int]]: ...


@dataclass(frozen=True, slots=True)
class View:
    """What one path serves: the registry's families (``only`` these, or all but ``exclude``) and ``sources``."""

    path: str
    registry: bool = True
    only: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    sources: tuple[Source, ...] = ()
    source_families: Callable[[str], bool] = field(default=lambda name: True)


@dataclass(frozen=True, slots=True)
class Rendered:
    parts: tuple[bytes, ...]
    length: int
    content_type: str


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
    """Renders views cooperatively on the event loop, one rendering per view and format at a time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._inflight: dict[tuple[str, str, tuple[str, ...], bool], asyncio.Task[Rendered]] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        self.render_seconds = Histogram(
            "tenant_exporter_metrics_render_seconds",
            "Wall time to render (and compress) one /metrics answer, yielding to requests meanwhile.",
            ["path", "encoding"], buckets=RENDER_BUCKETS, registry=registry,
        )
        self.series = Gauge("tenant_exporter_metrics_samples",
                            "Samples in the last whole answer of each metrics path (without name[]).",
                            ["path"], registry=registry)
        self.renders = 0

    async def render(self, view: View, accept: str, names: tuple[str, ...], compress: bool) -> Rendered:
        """Render ``view``; concurrent identical requests share one rendering."""
        encoder, content_type = choose_encoder(accept)
        key = (view.path, content_type, names, compress)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._render(view, encoder, content_type, names, compress))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _render(self, view: View, encoder: Callable[[Any], bytes], content_type: str,
                      names: tuple[str, ...], compress: bool) -> Rendered:
        start = time.perf_counter()
        openmetrics = content_type.startswith("application/openmetrics-text")
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None
        parts: list[bytes] = []
        pending: list[bytes] = []  # text not yet compressed: zlib is given it in batches (see GZIP_BATCH)
        pending_bytes = 0
        samples = 0
        pacer = Pacer()
        for text, count in self._texts(view, encoder, content_type, names):
            samples += count
            if text and gz is None:
                parts.append(text)
            elif text:
                pending.append(text)
                pending_bytes += len(text)
            due = pacer.due()
            if gz is not None and pending and (due or pending_bytes >= GZIP_BATCH):
                parts.append(gz.compress(b"".join(pending)))
                pending, pending_bytes = [], 0
            if due:
                await pacer.pause()
        if gz:
            parts.append(gz.compress(b"".join(pending) + (_EOF if openmetrics else b"")))
            parts.append(gz.flush())
        elif openmetrics:
            parts.append(_EOF)
        self.renders += 1
        if not names:  # a name[] answer is not the path's answer
            self.series.labels(view.path).set(samples)
        self.render_seconds.labels(view.path, "gzip" if compress else "identity").observe(time.perf_counter() - start)
        return Rendered(tuple(parts), sum(map(len, parts)), content_type)

    def _texts(self, view: View, encoder: Callable[[Any], bytes], content_type: str,
               names: tuple[str, ...]) -> Iterator[tuple[bytes, int]]:
        wanted: frozenset[str] | None = frozenset(names) if names else None
        if view.registry:
            only = view.only if wanted is None else (wanted if view.only is None else view.only & wanted)
            source: Collector = self._registry.restricted_registry(sorted(only)) if only is not None \
                else self._registry
            for metric in source.collect():
                if metric.name in view.exclude:
                    continue
                for index, part in enumerate(_slices(metric, SLICE_SAMPLES)):
                    text = encoder(_One(part))
                    if text.endswith(_EOF):
                        text = text[: -len(_EOF)]
                    yield (_without_header(text) if index else text), len(part.samples)

        def header(name: str, documentation: str) -> bytes:
            key = (content_type, name)
            found = self._headers.get(key)
            if found is None:
                text = encoder(_One(Metric(name, documentation, "gauge")))
                found = self._headers[key] = text[: -len(_EOF)] if text.endswith(_EOF) else text
            return found

        def pick(name: str) -> bool:
            return view.source_families(name) and (wanted is None or name in wanted)

        for extra in view.sources:
            yield from extra.chunks(header, pick)

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
