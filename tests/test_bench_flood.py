"""The flood benchmark runs against a real process and reports bounded memory (a small run of it)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT


def test_flood_bench_stays_bounded_and_scrapeable() -> None:
    """3,000 distinct tag sets: 1,000 series accepted, the rest refused with 429, /metrics parses, exit 0."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "custom_metrics_flood.py"), "-n", "3000", "-c", "8"],
                         capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert 0 == run.returncode, run.stdout + run.stderr
    assert "'200': 1000" in run.stdout and "/metrics: HTTP 200" in run.stdout and "1,000 flood series" in run.stdout
