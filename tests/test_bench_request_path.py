"""The request-path benchmarks that docs/performance.md quotes still run (tiny runs of them)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run


def bench(*args: str) -> str:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / args[0]), *args[1:]], capture_output=True, text=True,
                         timeout=300, check=False, cwd=ROOT)
    assert 0 == run.returncode, run.stdout + run.stderr
    return run.stdout


def row(out: str, variant: str) -> list[str]:
    [line] = [line for line in out.splitlines() if line.startswith(f"| {variant} ")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_throughput_bench_reports_every_variant_without_errors() -> None:
    """wrk against the service and the bare app: both answer 200 to every request, ratios printed."""
    out = bench("throughput.py", "--rounds", "1", "--seconds", "1", "--variants", "service", "bare",
                "--paced-share", "0")
    service, bare = row(out, "service"), row(out, "bare")
    assert ("0", "0") == (service[5], bare[5])  # errors: non-2xx answers and socket errors
    assert 1.0 == float(bare[6]) and 0 < float(service[6])  # req/s vs bare


def test_instructions_bench_counts_more_work_for_the_service_than_the_bare_app() -> None:
    """Under callgrind: instructions per request for each variant, the service's above the bare app's
    (it authenticates, counts quota and records telemetry on top of answering)."""
    # the idle window spans a whole evaluation interval (15 s): the service's periodic work (evaluation, its
    # durable snapshot, incidents, SLA and SLO flushes) is averaged, not caught or missed by a short window
    out = bench("instructions.py", "--rounds", "1", "--requests", "50", "--warmup", "20", "--idle-seconds", "16",
                "--variants", "service", "bare")
    service, bare = (int(row(out, v)[1].replace(",", "")) for v in ("service", "bare"))
    assert 50_000 < bare < service, out
    assert re.search(r"^\| service .*\| 1\.00 +\|", out, re.M), out  # the service against itself
