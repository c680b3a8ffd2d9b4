"""Work in a worker thread shortens the GIL switch interval while it runs (core/threads.py)."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from exporter.core import threads


async def test_the_switch_interval_is_short_while_any_worker_runs_and_the_interpreters_after() -> None:
    before = sys.getswitchinterval()
    first_started, release_first, release_second = threading.Event(), threading.Event(), threading.Event()
    seen: list[float] = []

    def first() -> None:
        first_started.set()
        seen.append(sys.getswitchinterval())
        release_first.wait(5)

    def second() -> None:
        release_second.wait(5)
        seen.append(sys.getswitchinterval())

    one = asyncio.ensure_future(threads.in_thread(first))
    two = asyncio.ensure_future(threads.in_thread(second))
    await asyncio.to_thread(first_started.wait, 5)
    release_first.set()
    await one
    during_second = sys.getswitchinterval()  # the first ended, the second still runs
    release_second.set()
    await two
    assert (seen, during_second, sys.getswitchinterval()) == (
        [threads.SWITCH_INTERVAL, threads.SWITCH_INTERVAL], threads.SWITCH_INTERVAL, before)


async def test_a_failing_worker_restores_the_interval_and_raises() -> None:
    before = sys.getswitchinterval()

    def fail() -> None:
        raise ValueError("bad YAML")

    with pytest.raises(ValueError, match="bad YAML"):
        await threads.in_thread(fail)
    assert sys.getswitchinterval() == before
