"""The scale benchmarks that docs/performance.md quotes still run (tiny runs of them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_bench_request_path import bench, row

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run


def test_scale_bench_provisions_through_the_api_and_reports_every_column(tmp_path: Path) -> None:
    """30 tenants created over the API, a restart, scrapes: 8 series per tenant, no phase fails."""
    out = bench("scale.py", "--tenants", "30", "--clients", "4", "--scrapes", "2", "--seconds", "1",
                "--deadline", "120", "--json", str(tmp_path / "scale.json"))
    [result] = json.loads((tmp_path / "scale.json").read_text())
    assert (30, 8) == (result["tenants"], result["series per tenant"])
    assert 30 * 8 < result["series"] and result["start s"] < 30
    assert "30" == row(out, "30")[0]


def test_loop_steps_bench_lists_the_longest_steps() -> None:
    """In-process, timed in CPU: the table names both phases."""
    out = bench("loop_steps.py", "--tenants", "200", "--seconds", "2")
    assert "scrapes back to back + config requests" in out and "and a reload" in out, out
