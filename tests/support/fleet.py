"""Several replicas (real processes) on one PostgreSQL schema, and load offered to them open-loop, as a load
balancer would pass it on: evenly spaced, round robin, no request waiting for another's answer."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.metrics_helpers import value
from tests.support.service_process import ServiceProcess

BURST = re.compile(r'"burst";r=(\d+);t=(\d+)')


def replicas(workdir: Path, env: Mapping[str, str], n: int) -> list[ServiceProcess]:
    """``n`` replicas sharing ``env`` (DATABASE_URL, REDIS_URL, ...), each with its own INSTANCE_ID and log."""
    return [ServiceProcess(workdir, {"INSTANCE_ID": f"replica-{i}", "PROBE_AT_START": "false", **env})
            for i in range(n)]


@dataclass
class Answer:
    sent: float  # seconds after the offer started
    status: int  # 0: no answer (connection error or timeout)
    headers: Mapping[str, str]


@dataclass
class Tally:
    answers: list[Answer] = field(default_factory=list)

    def statuses(self, start: float = 0.0, end: float = float("inf")) -> Counter[int]:
        return Counter(a.status for a in self.answers if start <= a.sent < end)

    def admitted_per_second(self, start: float, end: float) -> float:
        return self.statuses(start, end)[200] / (end - start)

    def untruthful(self) -> list[Answer]:
        """Answers whose RateLimit headers disagree with the status: a 429 must say the burst policy has
        nothing left and carry Retry-After; a 200 must carry the burst policy."""
        bad = []
        for a in self.answers:
            match = BURST.search(a.headers.get("RateLimit", ""))
            if a.status == 429 and (match is None or match.group(1) != "0" or int(a.headers["Retry-After"]) < 1):
                bad.append(a)
            if a.status == 200 and match is None:
                bad.append(a)
        return bad


async def offer(http: aiohttp.ClientSession, urls: list[str], path: str, token: str, rate: float,
                seconds: float, tally: Tally | None = None) -> Tally:
    """``rate`` requests per second to ``urls`` in turn for ``seconds``, each sent on time whatever the others do."""
    tally = tally if tally is not None else Tally()
    loop = asyncio.get_running_loop()
    begin = loop.time()
    tasks: set[asyncio.Task[None]] = set()

    async def one(url: str, sent: float) -> None:
        try:
            async with http.get(url + path, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
                tally.answers.append(Answer(sent, r.status, dict(r.headers)))
        except (aiohttp.ClientError, TimeoutError):
            tally.answers.append(Answer(sent, 0, {}))

    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + i / rate - loop.time()))
        task = asyncio.create_task(one(urls[i % len(urls)], loop.time() - begin))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return tally


async def scrape(http: aiohttp.ClientSession, replica: ServiceProcess, name: str, **labels: str) -> float | None:
    async with http.get(replica.url + "/metrics") as r:
        return value(await r.text(), name, **labels)
