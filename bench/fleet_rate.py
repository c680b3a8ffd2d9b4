"""The fleet's admitted rate for one tenant: N replicas (real processes) on one PostgreSQL and one Redis.

    .venv/bin/python bench/fleet_rate.py [--replicas 3] [--rate 100] [--burst 200] [--offered 400]
                                         [--seconds 20] [--warmup 5] [--outage 5]

One tenant with ``--rate`` requests per second and ``--burst``; requests are sent open-loop at
``--offered`` per second (evenly spaced, round robin over the replicas, none waiting for another)
to ``GET /api/tenant/config``. After ``--warmup`` seconds (the burst is spent by then) the 200s
are counted for ``--seconds``: the admitted rate against the plan's rate is the figure, and it
does not drift with the machine (the limiter counts requests, not CPU). Two variants in the same
run: ``shared`` (REDIS_URL set) and ``per-replica`` (unset, as before: N times the rate).

Then, for ``shared``: a burst of ``3 * burst`` requests at once after the tenant was idle long enough
for its bucket to fill (a single bucket admits ``burst``, plus what refills meanwhile), and with
``--outage`` seconds: Redis stopped under load and started again (per second: admitted, refused,
and whether the replicas say the limits are shared). Every 200 and 429 is checked against its
RateLimit headers: a 429 says ``r=0`` for the burst policy and carries Retry-After.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import yaml
from common import PYTHON, ROOT, free_port, table

PG = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PATH = "/api/tenant/config"
BURST_POLICY = re.compile(r'"burst";r=(\d+);t=(\d+)')


class Replica:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "WARNING", **env}
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        return subprocess.run([PYTHON, "-m", "exporter", *args], env=self.env, cwd=self.workdir, capture_output=True,
                              text=True, check=True).stdout.strip()

    def launch(self) -> None:
        log = (self.workdir / f"replica-{self.port}.log").open("ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "exporter", "serve"], env=self.env, cwd=self.workdir,
                                     stdout=log, stderr=subprocess.STDOUT)

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(self.url + "/-/ready") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"replica on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


class Redis:
    """A private redis-server, so the outage can stop it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


class Tally:
    def __init__(self) -> None:
        self.by_second: dict[int, Counter[int]] = {}
        self.lies: list[str] = []

    def add(self, second: int, status: int, headers: aiohttp.typedefs.LooseHeaders) -> None:
        self.by_second.setdefault(second, Counter())[status] += 1
        match = BURST_POLICY.search(str(headers.get("RateLimit", "")))  # type: ignore[union-attr]
        if status == 429 and (match is None or match.group(1) != "0" or "Retry-After" not in headers):
            self.lies.append(f"429 without r=0 and Retry-After: {dict(headers)}")
        if status == 200 and match is None:
            self.lies.append(f"200 without the burst policy: {dict(headers)}")

    def admitted(self, first: int, last: int) -> int:
        return sum(self.by_second.get(s, Counter())[200] for s in range(first, last))


async def offer(http: aiohttp.ClientSession, urls: list[str], token: str, rate: float, seconds: float,
                tally: Tally, started: float) -> None:
    """Send ``rate`` requests per second for ``seconds``, evenly spaced, never waiting for an answer."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    pending: set[asyncio.Task[None]] = set()

    async def one(url: str) -> None:
        sent = time.monotonic()
        try:
            async with http.get(url + PATH, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
                tally.add(int(sent - started), r.status, r.headers)
        except aiohttp.ClientError:
            tally.add(int(sent - started), 0, {})

    n = int(rate * seconds)
    for i in range(n):
        await asyncio.sleep(max(0.0, begin + i / rate - loop.time()))
        task = asyncio.create_task(one(urls[i % len(urls)]))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def shared_state(http: aiohttp.ClientSession, replicas: list[Replica]) -> str:
    out = []
    for r in replicas:
        async with http.get(r.url + "/metrics") as resp:
            text = await resp.text()
        match = re.search(r"^tenant_exporter_rate_limit_shared (\S+)", text, re.M)
        out.append("-" if match is None else str(int(float(match.group(1)))))
    return "".join(out)


async def run_variant(name: str, args: argparse.Namespace, redis: Redis | None) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fleet-{name}-"))
    config = workdir / "config"
    config.mkdir()
    for f in (ROOT / "config").glob("*.yml"):
        shutil.copy(f, config / f.name)
    tenant = {"id": "fleet", "name": "Fleet", "plan": "enterprise", "region": "us-east",
              "rate_limit": {"requests_per_second": args.rate, "burst": args.burst}}
    (config / "tenants.yml").write_text(yaml.safe_dump({"version": 1, "tenants": [tenant]}))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG)
    await conn.execute(f"CREATE SCHEMA {schema}")
    env = {"CONFIG_DIR": str(config), "DATABASE_URL": f"{PG}?search_path={schema}", "PROBE_AT_START": "false"}
    if redis is not None:
        env.update(REDIS_URL=f"redis://127.0.0.1:{redis.port}/0", REDIS_KEY_PREFIX=f"{schema}:")
    replicas = [Replica(workdir, env) for _ in range(args.replicas)]
    result: dict[str, object] = {}
    try:
        token = replicas[0].cli("keys", "create", "--tenant", "fleet", "--role", "viewer")
        for r in replicas:
            r.launch()
        await asyncio.gather(*(r.ready() for r in replicas))
        urls = [r.url for r in replicas]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            tally, started = Tally(), time.monotonic()
            await offer(http, urls, token, args.offered, args.warmup + args.seconds, tally, started)
            admitted = tally.admitted(args.warmup, args.warmup + args.seconds) / args.seconds
            per_second = [tally.admitted(s, s + 1) for s in range(args.warmup, args.warmup + args.seconds)]
            result.update(admitted=admitted, lo=min(per_second), hi=max(per_second), lies=len(tally.lies),
                          examples=tally.lies[:2])
            if redis is not None:
                await asyncio.sleep(args.burst / args.rate + 2)  # idle: the bucket fills up again
                burst = Tally()
                t0 = time.monotonic()
                await offer(http, urls, token, 3 * args.burst / 0.1, 0.1, burst, t0)  # 3 bursts within 0.1 s
                result["burst_admitted"] = burst.admitted(0, 10)
                result["burst_ideal"] = args.burst + int(args.rate * (time.monotonic() - t0))
                if args.outage:
                    result["outage"] = await outage(http, urls, token, args, redis, replicas)
    finally:
        for r in replicas:
            r.stop()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


async def outage(http: aiohttp.ClientSession, urls: list[str], token: str, args: argparse.Namespace,
                 redis: Redis, replicas: list[Replica]) -> list[list[object]]:
    """Offer load for warmup + 3 * outage seconds; Redis is down for the middle third."""
    tally, started = Tally(), time.monotonic()
    states: dict[int, str] = {}
    seconds = args.warmup + 3 * args.outage

    async def operate() -> None:
        await asyncio.sleep(args.warmup + args.outage)
        redis.stop()
        await asyncio.sleep(args.outage)
        redis.start()

    async def watch() -> None:
        for s in range(seconds):
            await asyncio.sleep(max(0.0, started + s + 0.5 - time.monotonic()))
            states[s] = await shared_state(http, replicas)

    await asyncio.gather(offer(http, urls, token, args.offered, seconds, tally, started), operate(), watch())
    rows: list[list[object]] = []
    for s in range(args.warmup, seconds):
        counts = tally.by_second.get(s, Counter())
        phase = "redis down" if args.warmup + args.outage <= s < args.warmup + 2 * args.outage else "redis up"
        rows.append([s, phase, counts[200], counts[429], counts[0] + sum(v for k, v in counts.items()
                                                                          if k not in (0, 200, 429)),
                     states.get(s, "?")])
    return rows


async def main(args: argparse.Namespace) -> None:
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    redis = Redis()
    redis.start()
    try:
        shared = await run_variant("shared", args, redis)
        alone = await run_variant("per-replica", args, None)
    finally:
        redis.stop()
    print(f"{args.replicas} replicas, one tenant at {args.rate:g}/s (burst {args.burst}), {args.offered:g} requests/s "
          f"offered, admitted counted over {args.seconds} s after {args.warmup} s\n")
    rows = [[name, f"{r['admitted']:.1f}", f"{float(r['admitted']) / args.rate:.3f}",  # type: ignore[arg-type]
             f"{r['lo']}-{r['hi']}", r["lies"]] for name, r in (("shared", shared), ("per-replica", alone))]
    print(table(rows, ["variant", "admitted/s", "vs the plan's rate", "per second (min-max)",
                       "answers whose RateLimit headers disagree"]))
    for example in shared["examples"]:  # type: ignore[attr-defined]
        print("  e.g.", example)
    print(f"\nburst after idle ({3 * args.burst} requests in 0.1 s): admitted {shared['burst_admitted']}, "
          f"one bucket would admit {shared['burst_ideal']} (overshoot "
          f"{int(shared['burst_admitted']) - int(shared['burst_ideal'])})")  # type: ignore[call-overload]
    if "outage" in shared:
        print()
        print(table(shared["outage"], ["second", "phase", "200", "429", "other",  # type: ignore[arg-type]
                                       "shared? (per replica: 1 yes, 0 fail open)"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--offered", type=float, default=400)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--outage", type=int, default=0, help="seconds Redis is down under load (0: no outage)")
    sys.exit(asyncio.run(main(parser.parse_args())))
