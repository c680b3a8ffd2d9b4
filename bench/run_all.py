"""Every benchmark, one after the other; prints each table and writes them to bench/results/<date>.md.

    .venv/bin/python bench/run_all.py            # the full set (about 50 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # shorter runs of the same, for a smoke test

Run it on an otherwise idle machine: every script compares variants within one run, but a busy
neighbour still widens the spread. The tables in docs/performance.md came from this command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent

FULL = [
    ("throughput", ["throughput.py", "--rounds", "5", "--seconds", "10"]),
    ("instructions per request", ["instructions.py", "--variants", "service", "no-telemetry", "bare+headers", "bare",
                                  "fastapi"]),
    ("request steps", ["request_steps.py"]),
    ("rate limiter alone", ["ratelimit_cost.py"]),
    ("scrape stall", ["scrape_stall.py", "--tenants", "100", "--scrapes", "30"]),
    ("memory", ["memory.py", "--requests", "1000000", "--attack", "200000"]),
    ("soak", ["soak.py", "--minutes", "10"]),
    ("audit", ["audit_bench.py"]),
    ("custom-metric flood", ["custom_metrics_flood.py"]),
    ("fleet rate across replicas", ["fleet_rate.py", "--outage", "5"]),  # needs PostgreSQL and redis-server
    ("one evaluator for the fleet", ["fleet_evaluation.py", "--replicas", "1", "3", "10"]),
]
QUICK = [
    ("throughput", ["throughput.py", "--rounds", "2", "--seconds", "4"]),
    ("instructions per request", ["instructions.py", "--rounds", "1", "--requests", "500", "--idle-seconds", "5",
                                  "--variants", "service", "bare"]),
    ("request steps", ["request_steps.py", "--calls", "2000"]),
    ("rate limiter alone", ["ratelimit_cost.py", "--calls", "20000"]),
    ("scrape stall", ["scrape_stall.py", "--tenants", "100", "--scrapes", "10", "--load-seconds", "4",
                      "--rounds", "1"]),
    ("memory", ["memory.py", "--requests", "100000", "--attack", "20000"]),
    ("soak", ["soak.py", "--minutes", "1"]),
    ("custom-metric flood", ["custom_metrics_flood.py", "-n", "20000", "-c", "32"]),
    ("fleet rate across replicas", ["fleet_rate.py", "--seconds", "5", "--warmup", "3"]),
    ("one evaluator for the fleet", ["fleet_evaluation.py", "--replicas", "1", "3", "--routes", "10"]),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
    out = BENCH / "results" / f"{stamp}{'-quick' if args.quick else ''}.md"
    out.parent.mkdir(exist_ok=True)
    failed = []
    with out.open("w") as report:
        report.write(f"# Benchmarks {stamp}\n")
        for name, argv in QUICK if args.quick else FULL:
            command = f".venv/bin/python bench/{' '.join(argv)}"
            print(f"\n## {name}\n\n`{command}`\n", flush=True)
            started = time.monotonic()
            result = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], cwd=BENCH.parent,
                                    capture_output=True, text=True, check=False)
            took = time.monotonic() - started
            body = result.stdout.strip() + (f"\n\n(exit {result.returncode})\n{result.stderr[-2000:]}"
                                            if result.returncode else "")
            print(body, f"\n\n({took:.0f} s)", flush=True)
            report.write(f"\n## {name}\n\n`{command}` ({took:.0f} s)\n\n{body}\n")
            if result.returncode:
                failed.append(name)
    print(f"\nwritten to {out}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
