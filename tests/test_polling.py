"""The store-polling loop every feed uses: each failure counted, one log line per outage, not per poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from exporter.core.errors import StoreUnavailable
from exporter.core.polling import poll_forever


async def test_an_outage_is_counted_per_poll_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    outcomes = [True, False, False, False, False, True, True, False, True]  # False: the store does not answer
    failures, done = [], asyncio.Event()

    async def poll() -> None:
        ok = outcomes.pop(0)
        if not outcomes:
            done.set()
        if not ok:
            raise StoreUnavailable("connection refused")

    caplog.set_level(logging.INFO, logger="exporter.core.polling")
    task = asyncio.create_task(poll_forever(poll, 0.001, "tenants changes", lambda: failures.append(1)))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert 5 == len(failures)
    assert [("WARNING", "does not answer"), ("INFO", "answers again")] * 2 == [
        (r.levelname, "does not answer" if "does not answer" in r.getMessage() else "answers again")
        for r in caplog.records]
