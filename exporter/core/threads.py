"""Work in a thread that does not hold up the event loop for the GIL.

CPU-bound Python in a worker thread (a reload parsing YAML, the fleet evaluator's computation) holds
the GIL; whenever the loop's thread gives it up (each system call, each zlib call), it waits for the
worker to be made to give it back, which CPython does every switch interval: 5 ms by default. A
reload of 100,000 tenants made one 1 ms slice of /metrics rendering wait 46.6 ms that way
(docs/performance.md). While such work runs, ``in_thread`` shortens the interval to
``SWITCH_INTERVAL``; the interpreter's own value is back once the last of them ends.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")
SWITCH_INTERVAL: Final = 0.0005

_running = 0
_saved = 0.0


async def in_thread(func: Callable[..., T], /, *args: object) -> T:
    """``asyncio.to_thread(func, *args)`` with the GIL handed back to the loop within ``SWITCH_INTERVAL``."""
    global _running, _saved
    if _running == 0:
        _saved = sys.getswitchinterval()
        sys.setswitchinterval(min(_saved, SWITCH_INTERVAL))
    _running += 1
    try:
        return await asyncio.to_thread(func, *args)
    finally:
        _running -= 1
        if _running == 0:
            sys.setswitchinterval(_saved)
