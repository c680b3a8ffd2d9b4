"""The fleet-evaluation benchmark runs (a small run of it): one row per replica count, bytes read growing with the
replicas and the published evaluation's size not."""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT


def test_fleet_evaluation_bench_reports_a_row_per_replica_count() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "fleet_evaluation.py"), "--replicas", "1", "2",
                          "--routes", "3"], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert 0 == run.returncode, run.stdout + run.stderr
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines()
            if line.startswith("| ") and "replicas" not in line]
    read = [int(r[2].replace(",", "")) for r in rows]
    published = {r[3] for r in rows}
    assert (["1", "2"], 1) == ([r[0].strip() for r in rows], len(published))
    assert read[1] > 1.8 * read[0]
