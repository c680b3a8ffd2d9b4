"""Flood POST /api/monitoring/metrics/custom with distinct tag sets; the service's memory must stay bounded.

Starts the service as its own process (SQLite in a temp dir, the shipped config plus a tenant
whose rate limit is out of the way, so that every request reaches the custom-metric code),
creates a `service` key, then posts N samples (default 1,000,000), each with a never-seen-before tag
value, from C concurrent connections. It samples the service's RSS as it goes and, at the end,
scrapes /metrics and parses it. It exits 1 if RSS grew by more than --max-growth-mb, if any
answer was something other than 200 or the series-limit 429, or if /metrics did not parse.

    .venv/bin/python bench/custom_metrics_flood.py                 # 1,000,000 samples (wrk if installed)
    .venv/bin/python bench/custom_metrics_flood.py -n 20000 -c 32  # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    shutil.copytree(ROOT / "config", workdir / "config")
    (workdir / "config" / "tenants.yml").write_text(
        "version: 1\ntenants:\n  - {id: flood, name: Flood, plan: enterprise, region: local,\n"
        "     rate_limit: {requests_per_second: 1000000, burst: 1000000}}\n")
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "CONFIG_DIR": str(workdir / "config"),
           "DATABASE_URL": f"sqlite:///{workdir}/flood.db", "LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "exporter"]
    token = subprocess.run([*cli, "keys", "create", "--tenant", "flood", "--role", "service"], env=env,
                           capture_output=True, text=True, check=True, cwd=workdir).stdout.strip()
    log = (workdir / "service.log").open("wb")
    proc = subprocess.Popen([*cli, "serve"], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    return proc, token, env


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if proc.poll() is not None:
                raise SystemExit(f"the service exited with {proc.returncode}")
            try:
                async with http.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the service did not become ready")


async def flood(
    url: str, token: str, n: int, concurrency: int, process: psutil.Process
) -> tuple[Counter[str], list[tuple[int, float]]]:
    statuses: Counter[str] = Counter()
    rss: list[tuple[int, float]] = []
    counter = iter(range(n))
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as http:
        async def worker() -> None:
            for i in counter:
                body = {"name": "flood", "value": i, "tags": {"request_id": f"r{i:09d}", "shard": str(i % 97)}}
                async with http.post("/api/monitoring/metrics/custom", json=body) as r:
                    answer = await r.json(content_type=None)
                    kind = answer.get("type", "").rsplit(":", 1)[-1] if r.status != 200 else ""
                    statuses[f"{r.status} {kind}".strip()] += 1
                if i % 50_000 == 0:
                    rss.append((i, process.memory_info().rss / 2**20))
                    print(f"  {i:>9,} sent, RSS {rss[-1][1]:.1f} MiB, answers {dict(statuses)}", flush=True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    rss.append((n, process.memory_info().rss / 2**20))
    return statuses, rss


WRK_SCRIPT = r"""
local counter, next_id, threads, per_thread = 0, 0, {}, %(per_thread)d
-- each thread gets its own global `id`, so that no two requests carry the same tag set
function setup(thread) thread:set("id", next_id); next_id = next_id + 1; table.insert(threads, thread) end
function init(args) statuses = {}; finished = false; answered = 0 end
function request()
  counter = counter + 1
  local body = string.format('{"name":"flood","value":%%d,"tags":{"request_id":"t%%d-%%d","shard":"%%d"}}',
                             counter, id, counter, counter %% 97)
  return wrk.format("POST", "/api/monitoring/metrics/custom",
                    {["Content-Type"]="application/json", ["Authorization"]="Bearer %(token)s"}, body)
end
function response(status, headers, body)
  local kind = status == 200 and "200" or (status .. " " .. (string.match(body, 'problem:([%%w-]+)') or ""))
  statuses[kind] = (statuses[kind] or 0) + 1
  answered = answered + 1
  if answered >= per_thread and not finished then  -- stop on answers (requests run ahead of them)
    finished = true
    local f = io.open("%(done)s", "a"); f:write("done\n"); f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for k, v in pairs(s) do io.write(string.format("STATUS\t%%s\t%%d\n", k, v)) end
  end
end
"""


def flood_wrk(url: str, token: str, n: int, concurrency: int, process: psutil.Process,
              workdir: Path) -> tuple[Counter[str], list[tuple[int, float]]]:
    threads = 4
    script = workdir / "flood.lua"
    done = workdir / "wrk-threads-done"
    script.write_text(WRK_SCRIPT % {"per_thread": n // threads, "token": token, "done": done})
    wrk = subprocess.Popen(["wrk", f"-t{threads}", f"-c{max(concurrency, threads)}", "-d3600s", "-s", str(script),
                            f"{url}/"], stdout=subprocess.PIPE, text=True)
    rss: list[tuple[int, float]] = []
    started = time.monotonic()
    while wrk.poll() is None:
        time.sleep(1)
        if done.exists() and len(done.read_text().split()) >= threads:
            wrk.send_signal(signal.SIGINT)  # wrk then reports, and runs done()
        rss.append((int(time.monotonic() - started), process.memory_info().rss / 2**20))
        if len(rss) % 30 == 0:
            print(f"  {rss[-1][0]:>5} s, RSS {rss[-1][1]:.1f} MiB", flush=True)
    out = wrk.stdout.read() if wrk.stdout else ""
    statuses: Counter[str] = Counter()
    for line in out.splitlines():
        if line.startswith("STATUS\t"):
            _, kind, count = line.split("\t")
            statuses[kind.strip()] += int(count)
    rss.append((int(time.monotonic() - started), process.memory_info().rss / 2**20))
    return statuses, rss


async def scrape(url: str) -> tuple[int, int, int]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()
        if r.status != 200:
            return r.status, 0, 0
    samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
    custom = sum(1 for line in text.splitlines() if line.startswith("tenant_exporter_custom_flood{"))
    return r.status, samples, custom


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="samples to post (each a new tag set)")
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--max-growth-mb", type=float, default=64.0, help="fail if RSS grows more than this")
    parser.add_argument("--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, token, _ = start_service(Path(tmp), port)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url, proc)
            process = psutil.Process(proc.pid)
            before = process.memory_info().rss / 2**20
            print(f"posting {args.n:,} distinct tag sets with {args.concurrency} connections ({args.client}); "
                  f"RSS {before:.1f} MiB")
            started = time.perf_counter()
            if args.client == "wrk":
                statuses, rss = await asyncio.to_thread(flood_wrk, url, token, args.n, args.concurrency, process,
                                                        Path(tmp))
            else:
                statuses, rss = await flood(url, token, args.n, args.concurrency, process)
            elapsed = time.perf_counter() - started
            status, samples, custom = await scrape(url)
        finally:
            proc.terminate()
            proc.wait(15)
    peak = max(m for _, m in rss)
    growth = peak - before
    sent = sum(statuses.values())
    print(f"\n{sent:,} samples in {elapsed:.1f} s ({sent / elapsed:,.0f}/s); answers {dict(statuses)}")
    print(f"RSS before {before:.1f} MiB, peak {peak:.1f} MiB, growth {growth:.1f} MiB (limit {args.max_growth_mb})")
    print(f"/metrics: HTTP {status}, {samples:,} samples, {custom:,} flood series")
    ok = growth <= args.max_growth_mb and set(statuses) <= {"200", "429 custom-series-limit"} and status == 200
    print("OK: memory bounded, /metrics scrapeable" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
