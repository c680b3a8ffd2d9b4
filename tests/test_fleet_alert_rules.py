"""The fleet's alert rules as docs/operations.md gives them: valid for promtool, and firing when they should."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import promtool
from tests.support.helpers import ROOT

pytestmark = pytest.mark.promtool


def documented_rules() -> str:
    """The YAML block that follows the ``<!-- fleet-rules -->`` marker in docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    match = re.search(r"<!-- fleet-rules -->\n```yaml\n(.*?)```", text, re.S)
    assert match is not None, "docs/operations.md lost its fleet rules block"
    return match.group(1)


def alert(name: str, eval_time: str, *labels: dict[str, str]) -> dict[str, Any]:
    """An ``alert_rule_test`` entry: ``name`` fires at ``eval_time`` once for each label set (none: it does not)."""
    [rule] = [r for r in yaml.safe_load(documented_rules())["groups"][0]["rules"] if r["alert"] == name]

    def rendered(lab: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, text in rule["annotations"].items():
            for label, value in lab.items():
                text = text.replace("{{ $labels.%s }}" % label, value)  # noqa: UP031 (Go template braces)
            out[key] = text
        return out

    return {"alertname": name, "eval_time": eval_time,
            "exp_alerts": [{"exp_labels": {**lab, "severity": "warning"}, "exp_annotations": rendered(lab)}
                           for lab in labels]}


def test_the_documented_rules_are_valid(tmp_path: Path) -> None:
    """promtool check rules accepts the documented group."""
    (tmp_path / "fleet.yml").write_text(documented_rules())
    checked = promtool.run("check", "rules", str(tmp_path / "fleet.yml"))
    assert 0 == checked.returncode, checked.stdout + checked.stderr


def test_a_replica_that_cannot_reach_redis_for_a_minute_pages_and_the_others_do_not(tmp_path: Path) -> None:
    """Replica b reports per-replica limits from minute 2: RateLimitsPerReplica is pending at 2m30s, fires for b
    alone from 3m, and is gone once b shares again at 5m; replica a never fires."""
    (tmp_path / "fleet.yml").write_text(documented_rules())
    job = 'job="tenant-exporter"'
    test = {"rule_files": ["fleet.yml"], "evaluation_interval": "30s", "tests": [{
        "interval": "30s",
        "input_series": [
            {"series": f'tenant_exporter_rate_limit_shared{{{job},instance="a:8000"}}', "values": "1x20"},
            {"series": f'tenant_exporter_rate_limit_shared{{{job},instance="b:8000"}}', "values": "1x3 0x5 1x11"},
        ],
        "alert_rule_test": [
            alert("RateLimitsPerReplica", "2m30s"),
            alert("RateLimitsPerReplica", "3m", {"job": "tenant-exporter", "instance": "b:8000"}),
            alert("RateLimitsPerReplica", "5m"),
        ],
    }]}
    run = promtool.test_rules(tmp_path / "test.yml", test)
    assert 0 == run.returncode, run.stdout + run.stderr


def test_replicas_running_different_configs_for_five_minutes_page(tmp_path: Path) -> None:
    """Two replicas on one version never page; when one runs another version (from 2m) for five minutes,
    ConfigVersionsDiffer fires for the job (7m), and ends once the other version has gone (its last sample at
    9m, out of Prometheus's 5-minute lookback at 14m)."""
    (tmp_path / "fleet.yml").write_text(documented_rules())
    info = 'tenant_exporter_config_info{job="tenant-exporter",instance="%s",version="%s"}'
    test = {"rule_files": ["fleet.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": info % ("a:8000", "v1"), "values": "1x20"},
            {"series": info % ("b:8000", "v1"), "values": "1x2 _x7 1x10"},
            {"series": info % ("b:8000", "v2"), "values": "_x2 1x7"},
        ],
        "alert_rule_test": [
            alert("ConfigVersionsDiffer", "1m"),
            alert("ConfigVersionsDiffer", "6m"),
            alert("ConfigVersionsDiffer", "7m", {"job": "tenant-exporter"}),
            alert("ConfigVersionsDiffer", "16m"),
        ],
    }]}
    run = promtool.test_rules(tmp_path / "test.yml", test)
    assert 0 == run.returncode, run.stdout + run.stderr
