"""rules/slo.yml: Sloth's names and labels, exact budget literals, summed counts, a traffic guard, no `for`,
and `promtool test rules` scenarios for a fast burn, a slow burn, low traffic and recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.monitoring.config import load_monitoring
from exporter.rulegen.slo import TIERS, alert_name, threshold
from tests.support import promtool
from tests.support.helpers import ROOT, make_config_dir

SLO_FILE = ROOT / "rules" / "slo.yml"
API = {"sloth_id": "api-availability", "sloth_service": "api", "sloth_slo": "availability"}
SERIES = '{job="tenant-exporter",instance="127.0.0.1:8000",service="api"}'


def slo_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(SLO_FILE.read_text())["groups"]


def rules_named(name: str) -> list[dict[str, Any]]:
    return [r for g in slo_groups() for r in g["rules"] if r.get("record") == name or r.get("alert") == name]


def test_every_service_gets_sloths_recording_rules_and_labels() -> None:
    """Each service has Sloth's SLI, meta and period rules, labelled sloth_id/sloth_service/sloth_slo(/sloth_window)."""
    records = {(r["record"], r["labels"]["sloth_id"], r["labels"].get("sloth_window"))
               for g in slo_groups() for r in g["rules"] if "record" in r}
    for service in ("api", "database"):
        sid = f"{service}-availability"
        for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
            for name in ("slo:sli_error:ratio_rate", "slo:sli_error:increase", "slo:sli_total:increase"):
                assert (f"{name}{window}", sid, window) in records
        for name in ("slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
                     "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                     "slo:period_error_budget_remaining:ratio", "sloth_slo:info", "sloth_slo_info"):
            assert (name, sid, None) in records


def test_budget_and_thresholds_are_exact_literals() -> None:
    """The 99.9 % target gives the budget 0.001 and thresholds 0.0144, 0.006, 0.003, 0.001: no float arithmetic."""
    budgets = {r["labels"]["sloth_id"]: r["expr"] for r in rules_named("slo:error_budget:ratio")}
    assert {"api-availability": "vector(0.001)", "database-availability": "vector(0.001)",
            "api-requests": "vector(0.005)", "api-latency": "vector(0.01)"} == budgets
    service = load_monitoring(ROOT / "config").service("api")
    assert ["0.0144", "0.006", "0.003", "0.001"] == [threshold(service, tier) for tier in TIERS]
    assert "0.0009999999999999432" not in SLO_FILE.read_text()


def test_long_windows_are_ratios_of_summed_counts() -> None:
    """A window's error ratio divides the increase of failures by the increase of probes over that whole window
    (and is absent, not NaN, when there were none: `>= 0` drops 0/0)."""
    [ratio] = [r for r in rules_named("slo:sli_error:ratio_rate3d") if r["labels"]["sloth_id"] == "api-availability"]
    [errors] = [r for r in rules_named("slo:sli_error:increase3d") if r["labels"]["sloth_id"] == "api-availability"]
    assert ('slo:sli_error:increase3d{sloth_id="api-availability",sloth_window="3d"}\n/\n'
            'slo:sli_total:increase3d{sloth_id="api-availability",sloth_window="3d"}\n>= 0') == ratio["expr"]
    assert ('sum(increase(tenant_exporter_probe_failures_total{job="tenant-exporter",service="api"}[3d]))'
            == errors["expr"])


def test_four_burn_rate_tiers_without_for_and_with_a_stable_tier_label() -> None:
    """Each service has page tiers (1h/5m x14.4, 6h/30m x6) and ticket tiers (1d/2h x3, 3d/6h x1), none with `for`."""
    alerts = rules_named("ApiAvailabilityBudgetBurn")
    assert [("critical", "page", "page-1h"), ("critical", "page", "page-6h"), ("warning", "ticket", "ticket-1d"),
            ("warning", "ticket", "ticket-3d")] == [
        (a["labels"]["severity"], a["labels"]["sloth_severity"], a["labels"]["tier"]) for a in alerts]
    assert [] == [a for a in alerts if "for" in a]
    assert ('max(slo:sli_error:ratio_rate5m{sloth_id="api-availability"} > 0.0144) without (sloth_window)\nand\n'
            'max(slo:sli_error:ratio_rate1h{sloth_id="api-availability"} > 0.0144) without (sloth_window)\nand\n'
            'max(slo:sli_total:increase1h{sloth_id="api-availability"} >= 20) without (sloth_window)'
            ) == alerts[0]["expr"]
    assert 4 == len(rules_named("DatabaseAvailabilityBudgetBurn"))


def test_a_configured_service_gets_its_own_target_and_camel_case_alert(tmp_path: Path) -> None:
    """An HTTP service `docs-site` at 99.5 % gets DocsSiteAvailabilityBudgetBurn with thresholds from 0.005."""
    config = make_config_dir(tmp_path / "config")
    text = (config / "monitoring.yml").read_text().replace(
        "services:\n", "services:\n  docs-site: {type: http, url: 'http://127.0.0.1:9/', sla_target: 99.5%}\n")
    (config / "monitoring.yml").write_text(text)
    service = load_monitoring(config).service("docs-site")
    assert ("DocsSiteAvailabilityBudgetBurn", ["0.072", "0.03", "0.015", "0.005"]) == (
        alert_name(service), [threshold(service, tier) for tier in TIERS])


# --- promtool test rules ----------------------------------------------------------------------------------------
def expected(tiers: list[str]) -> list[dict[str, Any]]:
    """The full labels and annotations of the api alerts of these tiers, as the committed file states them."""
    alerts = {a["labels"]["tier"]: a for a in rules_named("ApiAvailabilityBudgetBurn")}
    return [{"exp_labels": {**alerts[t]["labels"], **API}, "exp_annotations": alerts[t]["annotations"]}
            for t in tiers]


def scenario(name: str, probes: str, failures: str, checks: list[tuple[str, list[str]]],
             exprs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": name, "interval": "1m",
        "input_series": [{"series": f"tenant_exporter_probes_total{SERIES}", "values": probes},
                         {"series": f"tenant_exporter_probe_failures_total{SERIES}", "values": failures}],
        "alert_rule_test": [{"eval_time": at, "alertname": "ApiAvailabilityBudgetBurn", "exp_alerts": expected(tiers)}
                            for at, tiers in checks],
        "promql_expr_test": exprs or [],
    }


ALL = ["page-1h", "page-6h", "ticket-1d", "ticket-3d"]
SCENARIOS = [
    # 4 probes a minute; healthy for 2 h, then every probe fails: every tier fires within minutes.
    scenario("fast burn pages", "0+4x300", "0x120 4+4x179",
             [("115m", []), ("125m", ALL), ("4h", ALL)]),
    # 0.5 % of probes fail (burn rate 5): above 3x and 1x the budget rate, below 6x and 14.4x: tickets, no page.
    scenario("slow burn opens tickets and pages nobody", "0+1000x300", "0+5x300",
             [("3h", ["ticket-1d", "ticket-3d"]), ("5h", ["ticket-1d", "ticket-3d"])]),
    # One probe a minute for 16 minutes, one of them failed: 20 % in the short and long windows, far above
    # 14.4x the budget rate, but fewer than 20 probes in any long window: nothing fires.
    scenario("low traffic pages nobody", "0+1x16", "0x4 1x11",
             [("8m", []), ("16m", [])],
             exprs=[promtool.expect('slo:sli_error:ratio_rate5m{sloth_id="api-availability"} > bool 0.0144', "8m", 1,
                                    labels='{sloth_id="api-availability",sloth_service="api",sloth_slo="availability",'
                                           'sloth_window="5m"}'),
                    promtool.expect('slo:sli_total:increase1h{sloth_id="api-availability"} < bool 20', "8m", 1,
                                    labels='{sloth_id="api-availability",sloth_service="api",sloth_slo="availability",'
                                           'sloth_window="1h"}')]),
    # A 30-minute outage, then recovery: each tier stops once its short window holds no failure.
    scenario("recovery ends each tier with its short window", "0+4x521", "0x120 4+4x29 120x371",
             [("149m", ALL), ("157m", ["page-6h", "ticket-1d", "ticket-3d"]), ("182m", ["ticket-1d", "ticket-3d"]),
              ("272m", ["ticket-3d"]), ("512m", [])]),
]


@pytest.mark.promtool
def test_promtool_scenarios_fire_exactly_the_expected_tiers(tmp_path: Path) -> None:
    """Under `promtool test rules` the committed rules page on a fast burn, ticket on a slow one, stay silent on
    low traffic, and stop tier by tier after recovery."""
    test_file = {"rule_files": [str(SLO_FILE)], "evaluation_interval": "1m", "tests": SCENARIOS}
    result = promtool.test_rules(tmp_path / "slo_test.yml", test_file)
    assert (0, "SUCCESS") == (result.returncode, result.stdout.strip().splitlines()[-1].strip()), \
        result.stdout + result.stderr


@pytest.mark.promtool
def test_the_guard_is_what_keeps_low_traffic_quiet(tmp_path: Path) -> None:
    """With the guard lowered to 1 probe the low-traffic scenario pages: the guard, not the ratios, holds it back."""
    config = make_config_dir(tmp_path / "config")
    text = (config / "monitoring.yml").read_text().replace("alert_min_events: 20", "alert_min_events: 1")
    (config / "monitoring.yml").write_text(text)
    from exporter.rulegen.prometheus import generate

    generate(load_monitoring(config), tmp_path / "rules")
    low = next(s for s in SCENARIOS if s["name"].startswith("low traffic"))
    fired = {**low, "alert_rule_test": [], "promql_expr_test": [
        promtool.expect('count(ALERTS{alertname="ApiAvailabilityBudgetBurn",alertstate="firing"})', "8m", 4)]}
    result = promtool.test_rules(tmp_path / "guard_test.yml", {
        "rule_files": [str(tmp_path / "rules" / "slo.yml")], "evaluation_interval": "1m", "tests": [fired]})
    assert 0 == result.returncode, result.stdout + result.stderr


def test_rules_check_fails_when_a_target_changes(tmp_path: Path) -> None:
    """After an sla_target changes, `rules check` names slo.yml as stale until `rules generate` runs again."""
    from tests.support.helpers import run_cli as cli

    config, rules = make_config_dir(tmp_path / "config"), tmp_path / "rules"
    assert 0 == cli("rules", "generate", "--config-dir", str(config), "--rules-dir", str(rules)).returncode
    text = (config / "monitoring.yml").read_text().replace("database:\n    sla_target: 99.9%",
                                                           "database:\n    sla_target: 99.95%")
    (config / "monitoring.yml").write_text(text)
    stale = cli("rules", "check", "--config-dir", str(config), "--rules-dir", str(rules))
    assert (1, f"{rules / 'slo.yml'}: differs from config/monitoring.yml; run `tenant-exporter rules generate`\n") == (
        stale.returncode, stale.stderr)
