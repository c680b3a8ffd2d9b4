"""GET /api/tenant/config: instructions executed per request, under callgrind (valgrind).

    .venv/bin/python bench/instructions.py [--requests 2000] [--rounds 3] [--variants ...]

Requests per second move with the machine (on this shared 2-core machine the bare app's cost
varied by a third within a day); the number of instructions a server executes for a request
does not. Each variant of bench/variants.py runs under ``valgrind --tool=callgrind`` with
instrumentation off while it starts; then it is switched on, and each round zeroes the counters,
sends ``--requests`` requests one after another on one keep-alive connection (the client runs
outside valgrind) and dumps the count. Rounds are interleaved across variants; the table gives
the median per request, the spread of the rounds and the ratio to the bare app.

Instructions are not time: a cache miss costs more than an add, and requests that arrive
together (wrk's 50 connections) share one event-loop turn that a single connection pays alone.
The figure is for comparing builds and variants, stably, not for predicting req/s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from common import Server, median, table
from variants import PATH, VARIANTS, start_variants

DEFAULT_VARIANTS = ("service", "bare+headers", "bare", "fastapi")


def control(server: Server, *args: str) -> None:
    """callgrind_control on ``server``; with its HOST, which vgdb puts in the name of its pipes."""
    assert server.proc is not None
    subprocess.run(["callgrind_control", *args, str(server.proc.pid)], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "HOST": server.env.get("HOST", "")})


def requests(server: Server, headers: dict[str, str], n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        for _ in range(n):
            conn.request("GET", PATH, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{server.name}: {response.status}")
    finally:
        conn.close()


def dumped(server: Server, keep: Path | None) -> int:
    """Dump ``server``'s counters and return the total; copied to ``keep``/<variant>.callgrind.out when given."""
    dumps = set(server.dir.glob("callgrind.out.*"))
    control(server, "--dump")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(server.dir.glob("callgrind.out.*")) - dumps
        if new:
            [dump] = new
            match = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.M)
            if match:
                if keep is not None:
                    shutil.copy(dump, keep / f"{server.name}.callgrind.out")
                return int(match.group(1))
        time.sleep(0.2)
    raise TimeoutError(f"{server.name}: no callgrind dump in {sorted(p.name for p in server.dir.iterdir())}")


def idle_rate(server: Server, seconds: float) -> float:
    """Instructions per second with no requests: the server's own timers (probes, flushes, samplers)."""
    control(server, "--zero")
    started = time.monotonic()
    time.sleep(seconds)
    total = dumped(server, None)
    return total / (time.monotonic() - started)


def counted(server: Server, headers: dict[str, str], n: int, background: float, keep: Path | None) -> float:
    """Instructions per request over ``n`` requests: callgrind's total between a zero and a dump, less
    ``background`` instructions per second for as long as that took (it is wall time under valgrind)."""
    control(server, "--zero")
    started = time.monotonic()
    requests(server, headers, n)
    total = dumped(server, keep)
    return (total - background * (time.monotonic() - started)) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--idle-seconds", type=float, default=20.0,
                        help="how long to measure each server's background work, which is subtracted")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument("--keep", type=Path, help="copy each variant's last dump here (for callgrind_annotate)")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)

    servers = start_variants(args.variants, timeout=180, wrap=[
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=callgrind.out"])
    counts: dict[str, list[float]] = {name: [] for name in servers if name in args.variants}
    background: dict[str, float] = {}
    try:
        for name in counts:
            server, headers = servers[name]
            requests(server, headers, args.warmup)  # tokens verified and cached, bodies encoded, code paths warm
            control(server, "--instr=on")
            requests(server, headers, args.warmup // 5)
            background[name] = idle_rate(server, args.idle_seconds)
        for _ in range(args.rounds):
            for name in counts:
                counts[name].append(counted(*servers[name], args.requests, background[name], args.keep))
    finally:
        for server, _ in servers.values():
            server.stop()

    base_name = "bare" if "bare" in counts else next(iter(counts))
    base = median(counts[base_name])
    service = median(counts["service"]) if "service" in counts else base
    rows: list[list[object]] = []
    for name, runs in counts.items():
        mid = median(runs)
        spread = (max(runs) - min(runs)) / mid
        rows.append([name, f"{mid:,.0f}", f"{spread:.1%}", f"{mid / base:.2f}", f"{mid / service:.2f}",
                     f"{background[name]:,.0f}"])
    print(f"{args.requests} requests per round, {args.rounds} rounds, one keep-alive connection\n")
    print(table(rows, ["variant", "instructions/request", "spread (max-min)", f"vs {base_name}", "vs service",
                       "background instructions/s (subtracted)"]))


if __name__ == "__main__":
    main()
