"""Long CPU work on the event loop, in slices: requests keep moving while it runs.

A loop that hashes 5,000 audit rows (about 30 ms) or renders 600 label sets holds every request
for that long. Code that walks something large checks ``pacer.due()`` (a clock read) as it goes
and, when a slice is used up, awaits ``pacer.pause()``: a short timer rather than ``sleep(0)``,
so the timers and I/O that became due meanwhile run first. Used by ``/metrics``
(``telemetry/exposition.py``) and audit verification (``audit/chain.py``); the loop-lag histogram
(``tenant_exporter_event_loop_lag_seconds``) shows what is left.

Work done for a client can also stop when nobody waits for it any more: with ``abandoned``,
``pause()`` raises ``CancelledError`` once that says so (aiohttp does not cancel a handler whose
client went away; a verify of a long chain would run to the end for nobody).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

SLICE_SECONDS: Final = 0.001
YIELD_SECONDS: Final = 0.0001


class Pacer:
    def __init__(self, slice_seconds: float = SLICE_SECONDS, *, abandoned: Callable[[], bool] | None = None) -> None:
        self._slice = slice_seconds
        self._end = time.perf_counter() + slice_seconds
        self._abandoned = abandoned

    def due(self) -> bool:
        """The current slice is used up: await ``pause()`` before going on."""
        return time.perf_counter() >= self._end

    async def pause(self) -> None:
        """Let the loop run; raises ``CancelledError`` when the work was abandoned meanwhile."""
        await asyncio.sleep(YIELD_SECONDS)
        if self._abandoned is not None and self._abandoned():
            raise asyncio.CancelledError("abandoned: nobody waits for the result any more")
        self._end = time.perf_counter() + self._slice
