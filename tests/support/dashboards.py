"""The Grafana dashboards as Grafana reads them: their variables, their panels' queries, and the queries with
the variables filled in (``$__rate_interval``, ``$__range``, ``$job``, ``$instance``, ``$tenant``, ``$service``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.helpers import ROOT

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
VARIABLES = ("datasource", "job", "instance", "tenant", "service")
_LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+), *(?P<label>\w+)\)")


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def panel_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every panel target."""
    return [(path.name, panel["title"], target["expr"]) for path in DASHBOARDS for panel in load(path)["panels"]
            for target in panel.get("targets", [])]


def query_variables(board: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (series selector, label) of each ``label_values(selector, label)`` variable."""
    out = {}
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            match = _LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert match is not None, variable
            out[variable["name"]] = (match["selector"], match["label"])
    return out


def fill(expr: str, values: Mapping[str, str], *, rate_interval: str = "1m", range_: str = "1h") -> str:
    """``expr`` with Grafana's variables replaced (multi-value ones by a regex, as Grafana does)."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m[1]], expr)
