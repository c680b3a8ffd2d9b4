"""Process-level tuning for ``tenant-exporter serve`` (not applied in tests or when embedded).

After startup, ``gc.freeze()`` moves everything built so far (the app, the catalog, metric
families) out of the cyclic collector's reach, so a full collection, which holds the event loop
for as long as it runs, walks only what requests allocated since; a higher gen-0 threshold
makes collections rarer on a request-heavy heap.

The event loop is uvloop's where it is installed (a dependency on Linux and macOS): the same
asyncio API with the transport and protocol plumbing in C, 13 % more requests per second here
(docs/performance.md). ``EVENT_LOOP=asyncio`` picks the standard one.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from aiohttp import web

log = logging.getLogger(__name__)

GC_THRESHOLD = (10_000, 50, 100)


def tune_process() -> None:
    gc.set_threshold(*GC_THRESHOLD)


async def freeze_heap(app: web.Application) -> None:
    """on_startup hook (registered after the cleanup contexts): freeze what startup allocated."""
    gc.collect()
    gc.freeze()


class Refreeze:
    """Freeze again once many long-lived objects were made after start: a reload rebuilds every tenant,
    and tenants provisioned over the API accumulate. Unfrozen, 100,000 tenants make a full collection
    hold the loop for ~100 ms; ``gc.freeze()`` alone (no collection first) takes microseconds."""

    def __init__(self, every: int = 10_000) -> None:
        self._every = every
        self._since = 0

    def reloaded(self, _: object) -> None:
        gc.freeze()
        self._since = 0

    def tenants_changed(self, ids: object) -> None:
        self._since += len(ids) if isinstance(ids, list | set | tuple) else self._every
        if self._since >= self._every:
            self.reloaded(None)


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new loop of ``kind`` ("uvloop" or "asyncio"); the standard one where uvloop is missing."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed; using the standard asyncio event loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
