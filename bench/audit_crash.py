"""Crash test, longer than the suite's: rounds of 50 clients writing audited usage reports to a
real service that is SIGKILLed at a random moment and restarted; after all rounds, every
request answered 2xx must have its event and ``audit verify`` must pass. Both stores.

    .venv/bin/python bench/audit_crash.py --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_bench import POSTGRES, database  # noqa: E402
from tests.support.crash_load import crash_round, logged_request_ids, prepare  # noqa: E402


async def run(backend: str, rounds: int, clients: int, postgres_url: str) -> bool:
    async with database(backend, postgres_url) as url:
        with tempfile.TemporaryDirectory(prefix="audit-crash-") as tmp:
            proc, token = prepare(Path(tmp), url)
            acknowledged: set[str] = set()
            try:
                for n in range(rounds):
                    result = await crash_round(proc, token, clients=clients, label=f"r{n}", kill_window=(0.5, 4.0))
                    acknowledged |= result.acknowledged
                    print(f"{backend} round {n + 1}: killed after {result.killed_after:.2f} s, "
                          f"{len(result.acknowledged)} acknowledged, {result.refused} refused, "
                          f"{result.failed} cut off", flush=True)
                proc.start()
                logged = logged_request_ids(proc)
                verify = proc.cli("audit", "verify")
            finally:
                proc.kill()
    lost = acknowledged - logged
    print(f"{backend}: {len(acknowledged)} acknowledged, {len(logged)} logged "
          f"({len(logged - acknowledged)} more: answered by nobody before the kill), {len(lost)} LOST; "
          f"verify exit {verify.returncode}: {(verify.stdout or verify.stderr).strip()}")
    return not lost and verify.returncode == 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--postgres-url", default=POSTGRES)
    args = parser.parse_args()
    ok = [await run(b, args.rounds, args.clients, args.postgres_url) for b in args.backends.split(",")]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
