"""Process-level tuning for ``tenant-exporter serve`` (not applied in tests or when embedded).

After startup, ``gc.freeze()`` moves everything built so far (the app, the catalog, metric
families) out of the cyclic collector's reach, so a full collection, which holds the event loop
for as long as it runs, walks only what requests allocated since; a higher gen-0 threshold
makes collections rarer on a request-heavy heap.
"""

from __future__ import annotations

import gc

from aiohttp import web

GC_THRESHOLD = (10_000, 50, 100)


def tune_process() -> None:
    gc.set_threshold(*GC_THRESHOLD)


async def freeze_heap(app: web.Application) -> None:
    """on_startup hook (registered after the cleanup contexts): freeze what startup allocated."""
    gc.collect()
    gc.freeze()
