"""Run the real ``promtool`` (Debian's prometheus 2.42) on files the tests generate."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_rules(path: Path, test_file: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Write ``test_file`` (the promtool unit-test format) to ``path`` and run ``promtool test rules``."""
    path.write_text(yaml.safe_dump(test_file, sort_keys=False, width=1000))
    return run("test", "rules", str(path))


def expect(expr: str, eval_time: str, value: float | None, labels: str = "{}") -> dict[str, Any]:
    """A ``promql_expr_test`` entry: ``expr`` at ``eval_time`` is exactly ``value`` (None: returns nothing).

    promtool 2.42 never finds NaN equal to NaN, so a NaN is checked as "one element, and it is
    not >= -Inf" (only NaN fails that).
    """
    if value is not None and math.isnan(value):
        return {"expr": f"count(({expr}) unless ({expr}) >= -Inf)", "eval_time": eval_time,
                "exp_samples": [{"labels": "{}", "value": 1}]}
    exp = [] if value is None else [{"labels": labels, "value": value}]
    return {"expr": expr, "eval_time": eval_time, "exp_samples": exp}


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation (``0+5x3 _ 7 _x2``) -> one value (or None for ``_``) per step."""
    out: list[float | None] = []
    for token in values.split():
        if token.startswith("_"):
            out.extend([None] * (int(token[2:]) if token.startswith("_x") else 1))
            continue
        if "x" not in token:
            out.append(float(token))
            continue
        head, count = token.rsplit("x", 1)
        sign = "+" if "+" in head[1:] else "-" if "-" in head[1:] else None
        if sign is None:
            start, step = float(head), 0.0
        else:
            a, b = head[0] + head[1:].split(sign, 1)[0], head[1:].split(sign, 1)[1]
            start, step = float(a), float(b) * (1 if sign == "+" else -1)
        value = start
        for _ in range(int(count) + 1):  # promtool adds the step repeatedly (not start + i * step)
            out.append(value)
            value += step
    return out
