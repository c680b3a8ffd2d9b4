"""monitoring.yml: the shipped file loads; thresholds keep one exact literal; mistakes name file, line, field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.core.errors import ConfigError
from exporter.monitoring.config import load_monitoring
from tests.support.helpers import ROOT, make_config_dir

SHIPPED = (ROOT / "config" / "monitoring.yml").read_text()


def test_shipped_rules_are_the_seeds_six_thresholds_plus_no_data() -> None:
    """The shipped file holds the seed's six alert rules (with their severities) and an explicit no-data rule."""
    monitoring = load_monitoring(ROOT / "config")
    found = {(r.signal.name, r.operator, r.threshold.text if r.threshold else None, r.severity)
             for r in monitoring.rules}
    assert {
        ("response_time", ">", "1000ms", "error"),
        ("error_rate", ">", "5%", "error"),
        ("uptime", "<", "99%", "error"),
        ("response_time", ">", "500ms", "warning"),
        ("cpu", ">", "80%", "warning"),
        ("memory", ">", "85%", "warning"),
        ("uptime", "absent", None, "error"),
    } == found
    assert (15_000, 300_000, "5m") == (monitoring.evaluation_interval_ms, monitoring.window_ms, monitoring.window)


def rule_yaml(**fields: str) -> str:
    base = {"name": "Custom", "signal": "error_rate", "operator": '">"', "threshold": "5%", "for": "5m",
            "severity": "warning", "summary": "Something"}
    base.update(fields)
    body = "".join(f"    {k}: {v}\n" for k, v in base.items() if v != "DELETE")
    return f"version: 1\nevaluation_interval: 15s\nwindow: 5m\nrules:\n  - name: First\n" \
           f"    signal: cpu\n    operator: \">\"\n    threshold: 80%\n    severity: warning\n" \
           f"    summary: First rule\n  -{body[3:]}"


LITERALS = [
    ("response_time", "1000ms", "1"),
    ("response_time", "1s", "1"),
    ("response_time", "0.5s", "0.5"),
    ("response_time", "250ms", "0.25"),
    ("error_rate", "5%", "0.05"),
    ("uptime", "99.9%", "0.999"),
    ("cpu", "12.5%", "0.125"),
    ("memory", "100%", "1"),
]


@pytest.mark.parametrize(("signal", "written", "literal"), LITERALS,
                         ids=[f"{w} on {s} is the literal {lit}" for s, w, lit in LITERALS])
def test_threshold_is_parsed_exactly_into_one_literal(tmp_path: Path, signal: str, written: str, literal: str) -> None:
    """A threshold written with its unit becomes one exact decimal literal in the signal's base unit."""
    config = make_config_dir(tmp_path, **{"monitoring.yml": rule_yaml(signal=signal, threshold=written)})
    rule = load_monitoring(config).rules[1]
    assert (literal, float(literal)) == (rule.threshold.literal, rule.threshold.number)


BAD = [
    ({"threshold": "5"}, "rules[1].threshold", "with its unit (%)"),
    ({"signal": "response_time", "threshold": "0.5"}, "rules[1].threshold", "with its unit (ms or s)"),
    ({"threshold": "5ms"}, "rules[1].threshold", "with its unit (%)"),
    ({"threshold": "5.005%"}, "rules[1].threshold", "finer than this signal's comparison precision (0.01%)"),
    ({"signal": "response_time", "threshold": "0.5ms"}, "rules[1].threshold", "finer than"),
    ({"threshold": "150%"}, "rules[1].threshold", "more than 100%"),
    ({"signal": "latency"}, "rules[1].signal", "unknown signal 'latency'"),
    ({"operator": '"=>"'}, "rules[1].operator", "must be one of >, >=, <, <=, absent"),
    ({"severity": "critical"}, "rules[1].severity", "must be one of warning, error"),
    ({"name": "slow_things"}, "rules[1].name", "CamelCase"),
    ({"operator": "absent"}, "rules[1].threshold", "an `absent` rule has no threshold"),
    ({"threshold": "DELETE"}, "rules[1].threshold", "required field is missing"),
    ({"tresholds": "5%"}, "rules[1].tresholds", "unknown field"),
    ({"for": "5 minutes"}, "rules[1].for", "is not a duration"),
    ({"summary": "'Slow: {{ $value }}'"}, "rules[1].summary", "templates"),
    ({"runbook_url": "runbooks/slow"}, "rules[1].runbook_url", "absolute http(s) URL"),
    ({"name": "First", "severity": "warning"}, "rules[1].name", "another rule is already named 'First'"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[f"{f}: {m}" for _, f, m in BAD])
def test_a_bad_rule_is_reported_with_file_line_and_field(
    tmp_path: Path, change: dict, field: str, message: str
) -> None:
    """Each mistake in a rule names monitoring.yml, the line of the field, and the field."""
    text = rule_yaml(**change)
    config = make_config_dir(tmp_path, **{"monitoring.yml": text})
    with pytest.raises(ConfigError) as info:
        load_monitoring(config)
    key = field.rsplit(".", 1)[-1]
    lines = text.splitlines()
    second = next(n for n, t in enumerate(lines, 1) if t.startswith("  -") and n > 6)
    expected_line = next((n for n, t in enumerate(lines, 1) if n >= second and t.strip().startswith(f"{key}:")),
                         second)
    found = [str(i) for i in info.value.issues]
    assert [i for i in found if i.startswith(f"{config / 'monitoring.yml'}:{expected_line}: {field}: ")
            and message in i], found


def test_window_shorter_than_two_evaluations_is_refused(tmp_path: Path) -> None:
    """A window that cannot hold two samples is refused at the window's line."""
    text = SHIPPED.replace("window: 5m", "window: 20s")
    config = make_config_dir(tmp_path, **{"monitoring.yml": text})
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("window:"))
    with pytest.raises(ConfigError) as info:
        load_monitoring(config)
    assert [f"{config / 'monitoring.yml'}:{line}: window: must be at least twice evaluation_interval (30s) so that "
            "a rate has two samples"] == [str(i) for i in info.value.issues]


def test_check_config_reports_monitoring_errors_too(tmp_path: Path) -> None:
    """`tenant-exporter check-config` exits 1 and prints monitoring.yml:line: field: message."""
    config = make_config_dir(tmp_path, **{"monitoring.yml": SHIPPED.replace("threshold: 5%", "threshold: 5")})
    bad = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config-dir", str(config)],
                         capture_output=True, text=True, check=False)
    line = next(n for n, t in enumerate(SHIPPED.splitlines(), 1) if "threshold: 5%" in t)
    assert 1 == bad.returncode
    assert f"{config / 'monitoring.yml'}:{line}: rules[1].threshold: write a ratio threshold" in bad.stderr, bad.stderr
    good = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config-dir", str(ROOT / "config")],
                          capture_output=True, text=True, check=False)
    assert (0, True) == (good.returncode, "7 alert rules, 11 operational alerts" in good.stdout), \
        good.stdout + good.stderr
