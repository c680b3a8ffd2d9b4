"""`rules generate|check`: the committed rules/ come from config/monitoring.yml, pass promtool, and go stale loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import promtool
from tests.support.helpers import ROOT, make_config_dir
from tests.support.helpers import run_cli as cli


def test_committed_rules_are_up_to_date() -> None:
    """`tenant-exporter rules check` passes on the repository as committed."""
    result = cli("rules", "check")
    assert (0, "") == (result.returncode, result.stderr)


@pytest.mark.promtool
def test_committed_rules_pass_promtool_lint() -> None:
    """`promtool check rules --lint=all --lint-fatal` accepts every committed rule file."""
    files = sorted(str(p) for p in (ROOT / "rules").glob("*.yml"))
    result = promtool.run("check", "rules", "--lint=all", "--lint-fatal", *files)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_generate_is_deterministic(tmp_path: Path) -> None:
    """Generating twice writes the same bytes as the committed file."""
    for out in ("a", "b"):
        assert 0 == cli("rules", "generate", "--rules-dir", str(tmp_path / out)).returncode
    committed = (ROOT / "rules" / "tenant-exporter.yml").read_bytes()
    assert (committed, committed) == ((tmp_path / "a" / "tenant-exporter.yml").read_bytes(),
                                      (tmp_path / "b" / "tenant-exporter.yml").read_bytes())


def test_check_fails_when_monitoring_changes(tmp_path: Path) -> None:
    """After a threshold changes in monitoring.yml, `rules check` exits 1 until `rules generate` runs."""
    config = make_config_dir(tmp_path / "config")
    rules = tmp_path / "rules"
    assert 0 == cli("rules", "generate", "--config-dir", str(config), "--rules-dir", str(rules)).returncode
    text = (config / "monitoring.yml").read_text().replace("threshold: 5%", "threshold: 2.5%")
    (config / "monitoring.yml").write_text(text)
    stale = cli("rules", "check", "--config-dir", str(config), "--rules-dir", str(rules))
    assert 1 == stale.returncode
    assert f"{rules / 'tenant-exporter.yml'}: differs from config/monitoring.yml" in stale.stderr
    assert 0 == cli("rules", "generate", "--config-dir", str(config), "--rules-dir", str(rules)).returncode
    assert 0 == cli("rules", "check", "--config-dir", str(config), "--rules-dir", str(rules)).returncode
    missing = cli("rules", "check", "--config-dir", str(config), "--rules-dir", str(tmp_path / "nowhere"))
    assert (1, True) == (missing.returncode, "missing" in missing.stderr)


def test_alerts_use_the_exact_threshold_literal_at_a_stated_precision() -> None:
    """Each alert compares round(signal, precision) with the threshold as one exact decimal literal."""
    group = yaml.safe_load((ROOT / "rules" / "tenant-exporter.yml").read_text())["groups"][0]
    alerts = {r["alert"]: (r["expr"], r.get("for"), r["labels"]) for r in group["rules"] if "alert" in r}
    assert {
        "ResponseTimeCritical": ("round(job:http_request_duration_seconds:p95_rate5m, 0.001) > 1", "5m",
                                 {"severity": "error", "signal": "response_time"}),
        "ErrorRateHigh": ("round(job:http_requests_errors:ratio_rate5m, 0.0001) > 0.05", "5m",
                          {"severity": "error", "signal": "error_rate"}),
        "UptimeLow": ('round(instance:tenant_exporter_probe_success:avg_over_time5m{service="api"}, 0.0001) < 0.99',
                      "2m", {"severity": "error", "signal": "uptime"}),
        "UptimeNoData": ('absent(instance:tenant_exporter_probe_success:avg_over_time5m{service="api"})', "2m",
                         {"severity": "error", "signal": "uptime"}),
        "ResponseTimeWarning": ("round(job:http_request_duration_seconds:p95_rate5m, 0.001) > 0.5", "5m",
                                {"severity": "warning", "signal": "response_time"}),
        "CpuUsageHigh": ("round(instance:system_cpu_usage_ratio:avg_over_time5m, 0.0001) > 0.8", "10m",
                         {"severity": "warning", "signal": "cpu"}),
        "MemoryUsageHigh": ("round(instance:system_memory_usage_ratio:avg_over_time5m, 0.0001) > 0.85", "10m",
                            {"severity": "warning", "signal": "memory"}),
    } == alerts
    assert "15s" == group["interval"]
