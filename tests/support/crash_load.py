"""The crash scenario shared by the test suite and ``bench/audit_crash.py``.

50 clients send audited writes (usage reports, each with its own ``X-Request-ID``) to a real
``python -m exporter serve``; the process gets SIGKILL (or, ``graceful``, SIGTERM) at a random
moment; it is started again. Then every request that got a 2xx must have its event in the log,
and ``audit verify`` must pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.helpers import make_config_dir
from tests.support.service_process import ServiceProcess

TENANT = "load"
TENANTS = [{"id": TENANT, "name": "Load", "plan": "enterprise", "region": "us-east",
            "rate_limit": {"requests_per_second": 1_000_000, "burst": 1_000_000}}]


@dataclass
class CrashRound:
    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0
    failed: int = 0  # connection reset, no answer: the event may or may not be there
    killed_after: float = 0.0
    exit_code: int | None = None  # after SIGTERM


def prepare(workdir: Path, database_url: str) -> tuple[ServiceProcess, str]:
    make_config_dir(workdir / "config", tenants=TENANTS)
    proc = ServiceProcess(workdir, {"DATABASE_URL": database_url, "AUDIT_CHECKPOINT_KEY": "k" * 32})
    created = proc.cli("keys", "create", "--tenant", TENANT, "--role", "service", "--name", "load")
    if created.returncode != 0:
        raise RuntimeError(created.stderr)
    return proc, created.stdout.strip()


async def crash_round(proc: ServiceProcess, token: str, *, clients: int = 50, label: str = "r",
                      kill_window: tuple[float, float] = (0.5, 2.0), graceful: bool = False) -> CrashRound:
    """Start the service, load it with ``clients`` writers, SIGKILL it (SIGTERM when ``graceful``,
    then wait for it to exit) at a random moment."""
    proc.start()
    result = CrashRound()

    async def client(n: int, http: aiohttp.ClientSession) -> None:
        for i in range(1_000_000):
            request_id = f"{label}-{n}-{i}"
            try:
                async with http.put("/api/tenant/usage", json={"cases_created": i},
                                    headers={"X-Request-ID": request_id}) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        result.acknowledged.add(request_id)
                    else:
                        result.refused += 1
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                result.failed += 1
                return

    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(proc.url, headers=headers, connector=connector) as http:
        tasks = [asyncio.create_task(client(n, http)) for n in range(clients)]
        result.killed_after = random.uniform(*kill_window)
        await asyncio.sleep(result.killed_after)
        if graceful:
            proc.signal(signal.SIGTERM)
        else:
            proc.kill()  # SIGKILL: no shutdown, no final commit
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    if graceful:
        assert proc.proc is not None
        result.exit_code = await asyncio.to_thread(proc.proc.wait, 30)
    return result


def logged_request_ids(proc: ServiceProcess) -> set[str]:
    """Request ids of every usage.report event, read back with ``audit export`` after restart."""
    exported = proc.cli("audit", "export", "--tenant", TENANT, "--action", "usage.report")
    if exported.returncode != 0:
        raise RuntimeError(exported.stderr)
    return {json.loads(line)["request_id"] for line in exported.stdout.splitlines()}
