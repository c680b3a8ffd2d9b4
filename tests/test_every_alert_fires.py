"""Every alert of rules/*.yml fires in some `promtool test rules` scenario: the threshold rules in the agreement
table (tests/test_agreement.py), the operational alerts in tests/test_operational_rules.py, and here every
service's burn-rate alert, whose tiers all fire on a fast burn of that service's probes."""

from __future__ import annotations

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


def fast_burn(alert: str, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """The alert's service probed 4 times a minute, healthy for 2 h, then failing every probe."""
    [sloth] = [r["labels"] for g in yaml.safe_load(SLO_FILE.read_text())["groups"] for r in g["rules"]
               if r.get("record") == "slo:objective:ratio"
               and alert == _camel(r["labels"]["sloth_service"]) + "AvailabilityBudgetBurn"]
    selector = f'{{job="tenant-exporter",instance="a:9464",service="{sloth["sloth_service"]}"}}'
    return {
        "name": f"{alert}: a fast burn fires every tier", "interval": "1m",
        "input_series": [{"series": f"tenant_exporter_probes_total{selector}", "values": "0+4x300"},
                         {"series": f"tenant_exporter_probe_failures_total{selector}", "values": "0x120 4+4x179"}],
        "alert_rule_test": [
            {"eval_time": "115m", "alertname": alert, "exp_alerts": []},
            {"eval_time": "4h", "alertname": alert, "exp_alerts": [
                {"exp_labels": {**tier["labels"], **sloth}, "exp_annotations": tier["annotations"]} for tier in tiers]},
        ],
    }


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


@pytest.mark.promtool
def test_every_services_burn_rate_alert_fires_on_a_fast_burn(tmp_path: Path) -> None:
    """Under `promtool test rules`, each service's <Service>AvailabilityBudgetBurn fires all four tiers (with
    their labels and annotations, runbook_url included) once that service's probes all fail."""
    scenarios = [fast_burn(alert, tiers) for alert, tiers in burn_alerts().items()]
    assert ["ApiAvailabilityBudgetBurn", "DatabaseAvailabilityBudgetBurn"] == sorted(burn_alerts())
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
