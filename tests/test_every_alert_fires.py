"""Every alert of rules/*.yml fires in some `promtool test rules` scenario: the threshold rules in the agreement
table (tests/test_agreement.py), the operational alerts in tests/test_operational_rules.py, and here every SLO's
burn-rate alert, whose tiers all fire on a fast burn: of a service's probes, of the API's requests (5xx), of its
latency (requests slower than the SLO's threshold)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import promtool
from tests.support.helpers import ROOT
from tests.support.scenarios import SCENARIOS as AGREEMENT
from tests.test_operational_rules import SCENARIOS as OPERATIONAL

SLO_FILE = ROOT / "rules" / "slo.yml"


def alerts_in(path: Path) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]


def burn_alerts() -> dict[str, list[dict[str, Any]]]:
    """alertname -> its tiers, per service, from the committed rules/slo.yml."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in alerts_in(SLO_FILE):
        out.setdefault(rule["alert"], []).append(rule)
    return out


def _sloth_labels(sloth_id: str) -> dict[str, str]:
    [labels] = [r["labels"] for g in yaml.safe_load(SLO_FILE.read_text())["groups"] for r in g["rules"]
                if r.get("record") == "slo:objective:ratio" and r["labels"]["sloth_id"] == sloth_id]
    return dict(labels)


def _inputs(sloth: dict[str, str]) -> list[dict[str, str]]:
    """Healthy for 2 h, then every event bad: probes all failing, every request a 5xx, or every request slow."""
    where = 'job="tenant-exporter",instance="a:9464"'
    if sloth["sloth_slo"] == "availability":
        selector = f'{{{where},service="{sloth["sloth_service"]}"}}'
        return [{"series": f"tenant_exporter_probes_total{selector}", "values": "0+4x300"},
                {"series": f"tenant_exporter_probe_failures_total{selector}", "values": "0x120 4+4x179"}]
    if sloth["sloth_slo"] == "requests":
        return [{"series": f'http_requests_total{{{where},status="200"}}', "values": "0+60x120 7200x179"},
                {"series": f'http_requests_total{{{where},status="503"}}', "values": "0x120 60+60x179"}]
    threshold = re.search(r'le="([^"]+)"', yaml.safe_dump(yaml.safe_load(SLO_FILE.read_text())))
    assert threshold is not None
    return [{"series": f"http_request_duration_seconds_count{{{where}}}", "values": "0+60x300"},
            {"series": f'http_request_duration_seconds_bucket{{{where},le="{threshold.group(1)}"}}',
             "values": "0+60x120 7200x179"}]


def fast_burn(alert: str, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """The alert's SLO healthy for 2 h (4 probes or 60 requests a minute), then every event bad."""
    match = re.search(r'sloth_id="([^"]+)"', tiers[0]["expr"])
    assert match is not None, tiers[0]["expr"]
    sloth = _sloth_labels(match.group(1))
    return {
        "name": f"{alert}: a fast burn fires every tier", "interval": "1m", "input_series": _inputs(sloth),
        "alert_rule_test": [
            {"eval_time": "115m", "alertname": alert, "exp_alerts": []},
            {"eval_time": "4h", "alertname": alert, "exp_alerts": [
                {"exp_labels": {**tier["labels"], **sloth}, "exp_annotations": tier["annotations"]} for tier in tiers]},
        ],
    }


@pytest.mark.promtool
def test_every_slos_burn_rate_alert_fires_on_a_fast_burn(tmp_path: Path) -> None:
    """Under `promtool test rules`, each SLO's burn-rate alert fires all four tiers (with their labels and
    annotations, runbook_url included) once its probes all fail, its requests all fail or all are slow."""
    scenarios = [fast_burn(alert, tiers) for alert, tiers in burn_alerts().items()]
    assert ["ApiAvailabilityBudgetBurn", "ApiLatencyBudgetBurn", "ApiRequestsBudgetBurn",
            "DatabaseAvailabilityBudgetBurn"] == sorted(burn_alerts())
    result = promtool.test_rules(tmp_path / "burn_test.yml", {
        "rule_files": [str(SLO_FILE)], "evaluation_interval": "1m", "tests": scenarios})
    assert (0, "SUCCESS") == (result.returncode, result.stdout.strip().splitlines()[-1].strip()), \
        result.stdout + result.stderr


def test_every_generated_alert_is_expected_to_fire_in_some_promtool_scenario() -> None:
    """No alert of rules/*.yml goes untested: each is expected firing in the agreement table, the operational
    scenarios, or the burn scenarios above."""
    generated = {r["alert"] for path in (ROOT / "rules").glob("*.yml") for r in alerts_in(path)}
    exercised = ({name for s in AGREEMENT for name in s.firing}
                 | {c["alertname"] for s in OPERATIONAL for c in s["alert_rule_test"] if c["exp_alerts"]}
                 | set(burn_alerts()))
    assert set() == generated - exercised
