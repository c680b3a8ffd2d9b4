"""The Python PromQL functions give exactly the numbers promtool 2.42 gives, edge cases included."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.core.durations import parse_duration
from exporter.monitoring import promql
from tests.support import promtool

pytestmark = pytest.mark.promtool

Series = dict[str, list[tuple[int, float]]]


@dataclass
class Case:
    id: str
    series: dict[str, str]  # promtool series -> values
    expr: str
    at: str
    compute: Callable[[Series, int], float | None]
    interval: str = "1m"


def samples(series: dict[str, str], interval: str) -> Series:
    step = parse_duration(interval)
    return {name: [(i * step, v) for i, v in enumerate(promtool.expand(values)) if v is not None]
            for name, values in series.items()}


def in_range(s: list[tuple[int, float]], t: int, r: int) -> list[tuple[int, float]]:
    return [(ts, v) for ts, v in s if t - r <= ts <= t]


def rate_of(name: str, range_: str, *, increase: bool = False) -> Callable[[Series, int], float | None]:
    def compute(s: Series, t: int) -> float | None:
        r = parse_duration(range_)
        return promql.extrapolated_rate(in_range(s[name], t, r), t - r, t, is_rate=not increase)
    return compute


def avg_of(name: str, range_: str) -> Callable[[Series, int], float | None]:
    def compute(s: Series, t: int) -> float | None:
        return promql.avg_over_time({(): in_range(s[name], t, parse_duration(range_))}).get(())
    return compute


def quantile_of(q: float) -> Callable[[Series, int], float | None]:
    def compute(s: Series, t: int) -> float | None:
        vector = {(("le", name.split('"')[1]),): v[-1][1] for name, v in s.items()}
        return promql.histogram_quantile(q, vector).get(())
    return compute


def buckets(**counts: float) -> dict[str, str]:
    names = {"inf": "+Inf", "neg": "-0.5", "zero": "0"}
    return {f'h{{le="{names.get(k, k.replace("_", "."))}"}}': str(v) for k, v in counts.items()}


CASES = [
    Case("a steady counter's rate over a full window", {"c": "0+5x40"}, "rate(c[5m])", "10m", rate_of("c", "5m")),
    Case("a series that starts mid-window extrapolates to its zero point first (2.42 order)",
         {"c": "_ _ _ 10 20 30"}, "increase(c[5m])", "5m", rate_of("c", "5m", increase=True)),
    Case("a counter reset adds the value before the reset", {"c": "0 10 20 5 15 25"}, "rate(c[5m])", "5m",
         rate_of("c", "5m")),
    Case("gaps in the samples", {"c": "0 _ _ 30 40 _ 60"}, "rate(c[5m])", "6m", rate_of("c", "5m")),
    Case("evaluation between samples", {"c": "0+7x20"}, "rate(c[2m])", "4m30s", rate_of("c", "2m"), "15s"),
    Case("a counter that started long before the window", {"c": "100+3x40"}, "increase(c[2m])", "9m",
         rate_of("c", "2m", increase=True), "15s"),
    Case("a single sample in the range has no rate", {"c": "_ _ _ _ 10"}, "rate(c[5m])", "4m", rate_of("c", "5m")),
    Case("avg_over_time of probe results", {"p": "1 1 0 1 1 1 1 0 1"}, "avg_over_time(p[5m])", "8m",
         avg_of("p", "5m")),
    Case("avg_over_time uses a compensated incremental mean", {"g": "0.1 0.2 0.7 1 1 0 0.3 0.3 0.3"},
         "avg_over_time(g[7m])", "8m", avg_of("g", "7m")),
    Case("avg_over_time with an infinity", {"g": "1 Inf 2"}, "avg_over_time(g[5m])", "2m", avg_of("g", "5m")),
    Case("histogram_quantile interpolates inside the bucket (0.8749999999999998)",
         buckets(**{"0_1": 50, "0_5": 80, "1": 100, "inf": 100}), "histogram_quantile(0.95, h)", "0",
         quantile_of(0.95)),
    Case("a rank in the +Inf bucket returns the second-highest bound",
         buckets(**{"0_1": 1, "1": 2, "inf": 100}), "histogram_quantile(0.95, h)", "0", quantile_of(0.95)),
    Case("no observations is NaN", buckets(**{"0_1": 0, "1": 0, "inf": 0}), "histogram_quantile(0.5, h)", "0",
         quantile_of(0.5)),
    Case("no +Inf bucket is NaN", buckets(**{"0_1": 3, "1": 5}), "histogram_quantile(0.5, h)", "0",
         quantile_of(0.5)),
    Case("only the +Inf bucket is NaN", buckets(inf=5), "histogram_quantile(0.5, h)", "0", quantile_of(0.5)),
    Case("a first bucket bound at or below zero is returned as is", buckets(neg=4, zero=6, inf=10),
         "histogram_quantile(0.2, h)", "0", quantile_of(0.2)),
    Case("q above 1 is +Inf", buckets(**{"1": 1, "inf": 2}), "histogram_quantile(1.5, h)", "0", quantile_of(1.5)),
    Case("q below 0 is -Inf", buckets(**{"1": 1, "inf": 2}), "histogram_quantile(-0.5, h)", "0",
         quantile_of(-0.5)),
    Case("non-monotonic buckets are made monotonic", buckets(**{"0_1": 9, "0_5": 4, "1": 12, "inf": 12}),
         "histogram_quantile(0.5, h)", "0", quantile_of(0.5)),
    Case("the median of a bucket boundary", buckets(**{"0_5": 50, "1": 100, "inf": 100}),
         "histogram_quantile(0.5, h)", "0", quantile_of(0.5)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_python_promql_equals_promtool_exactly(tmp_path: Path, case: Case) -> None:
    """promtool finds exactly the value (or absence, or NaN) the Python function computes."""
    t = parse_duration(case.at)
    expected = case.compute(samples(case.series, case.interval), t)
    (tmp_path / "rules.yml").write_text("groups: []\n")
    result = promtool.test_rules(tmp_path / "test.yml", {
        "rule_files": ["rules.yml"],
        "evaluation_interval": case.interval,
        "tests": [{
            "interval": case.interval,
            "input_series": [{"series": name, "values": values} for name, values in case.series.items()],
            "promql_expr_test": [promtool.expect(case.expr, case.at, expected)],
        }],
    })
    assert 0 == result.returncode, f"python says {expected!r}:\n{result.stdout}{result.stderr}"


ROUND_CASES = [
    (0.8749999999999998, 0.001, 0.875),
    (0.0005, 0.001, 0.001),  # ties round up
    (0.04999999999999999, 0.0001, 0.05),
    (0.050049999, 0.0001, 0.05),
    (2.4249999999999998, 0.001, 2.425),
    (0.99005, 0.0001, 0.9901),
]


@pytest.mark.parametrize(("value", "to_nearest", "expected"), ROUND_CASES,
                         ids=[f"round({v!r}, {n}) is {e}" for v, n, e in ROUND_CASES])
def test_round_matches_promql_round(tmp_path: Path, value: float, to_nearest: float, expected: float) -> None:
    """prom_round gives the intended decimal, and promtool's round() gives the very same double."""
    assert expected == promql.prom_round(value, to_nearest)
    (tmp_path / "rules.yml").write_text("groups: []\n")
    result = promtool.test_rules(tmp_path / "test.yml", {
        "rule_files": ["rules.yml"],
        "tests": [{"input_series": [{"series": "v", "values": repr(value)}],
                   "promql_expr_test": [promtool.expect(f"round(v, {to_nearest})", "0", expected)]}],
    })
    assert 0 == result.returncode, result.stdout + result.stderr


def test_nan_and_absence_compare_false() -> None:
    """The trailing `>= 0` of a signal drops NaN (0/0) but keeps zero."""
    vector = {(("a", "1"),): math.nan, (("a", "2"),): 0.0, (("a", "3"),): 0.25}
    assert {(("a", "2"),): 0.0, (("a", "3"),): 0.25} == promql.filter_(vector, lambda v: v >= 0)
    assert math.isnan(promql.divide({(): 0.0}, {(): 0.0})[()])
