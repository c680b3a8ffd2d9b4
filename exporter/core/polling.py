"""Polling the store for what other replicas changed: one loop for every feed.

``poll_forever`` calls ``poll`` every ``interval`` seconds. A poll the store cannot answer
(``StoreError``) is counted (``on_failure``) and retried at the next interval; it is logged once
per outage, when the first poll fails, and once more when polls succeed again, so a database that
is away for an hour does not write a line every 200 ms.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from exporter.core.errors import StoreError

log = logging.getLogger(__name__)


async def poll_forever(poll: Callable[[], Awaitable[object]], interval: float, what: str,
                       on_failure: Callable[[], None] = lambda: None) -> None:
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await poll()
        except StoreError as e:
            on_failure()
            if not failing:
                log.warning("%s: the store does not answer (polling on every %.1f s): %s", what, interval, e)
            failing = True
        else:
            if failing:
                log.info("%s: the store answers again", what)
            failing = False
