"""rules/operations.yml: every operational alert fires under `promtool test rules` when its condition holds
for its `for`, with its labels and its annotations as Prometheus renders them, and stays quiet otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import promtool
from tests.support.helpers import ROOT

OPS_FILE = ROOT / "rules" / "operations.yml"
JOB = 'job="tenant-exporter"'


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in yaml.safe_load(OPS_FILE.read_text())["groups"] for r in g["rules"] if "alert" in r}


def humanize(value: float, how: str) -> str:
    """Prometheus's template functions as these annotations use them (Go's %.4g)."""
    if how == "humanizePercentage":
        return f"{value * 100:.4g}%"
    if how == "humanizeDuration":
        return f"{value:.4g}s"  # under a minute, as here
    return f"{value:g}"


def render(text: str, labels: dict[str, str], value: float) -> str:
    """``{{ $labels.x }}``, ``{{ $value }}`` and ``{{ $value | f }}``, filled in as Prometheus does."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m[1]], text)
    return re.sub(r"\{\{ \$value(?: \| (\w+))? \}\}", lambda m: humanize(value, m[1] or ""), text)


def firing(alert: str, value: float, **labels: str) -> dict[str, Any]:
    """The alert as promtool must see it: the series' labels plus the rule's, annotations rendered."""
    rule = alerts()[alert]
    all_labels = {"job": "tenant-exporter", **labels, **rule["labels"]}
    return {"exp_labels": all_labels,
            "exp_annotations": {k: render(v, all_labels, value) for k, v in rule["annotations"].items()}}


def check(at: str, alert: str, *expected: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": list(expected)}


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{JOB},{labels}}}", "values": values}


SCENARIOS: list[dict[str, Any]] = [
    {"name": "quota: 80 % opens a ticket for any limit, 100 % of a hard limit pages", "input_series": [
        # acme: +100 calls a minute against a hard 2000; replica b reports the shared total a flush later
        series("tenant_exporter_api_calls_this_month", 'instance="a:8000",tenant="acme"', "0+100x30"),
        series("tenant_exporter_api_calls_this_month", 'instance="b:8000",tenant="acme"', "0+90x30"),
        series("tenant_exporter_api_calls_monthly_limit", 'instance="a:8000",tenant="acme",enforcement="hard"',
               "2000x30"),
        series("tenant_exporter_api_calls_monthly_limit", 'instance="b:8000",tenant="acme",enforcement="hard"',
               "2000x30"),
        # globex: a soft 1000, long past 100 %: a ticket, never a page
        series("tenant_exporter_api_calls_this_month", 'instance="a:8000",tenant="globex"', "0+100x30"),
        series("tenant_exporter_api_calls_monthly_limit", 'instance="a:8000",tenant="globex",enforcement="soft"',
               "1000x30"),
        # acme's storage at half its limit: nothing
        series("tenant_exporter_storage_used_bytes", 'instance="a:8000",tenant="acme"', "5e9x30"),
        series("tenant_exporter_storage_limit_bytes", 'instance="a:8000",tenant="acme",enforcement="hard"',
               "1e10x30"),
    ], "alert_rule_test": [
        check("12m", "TenantQuotaNearLimit"),  # globex at 80 % since 8m: still pending
        check("14m", "TenantQuotaNearLimit", firing("TenantQuotaNearLimit", 1.4, tenant="globex",
                                                    enforcement="soft", resource="api_calls_per_month")),
        check("20m", "TenantQuotaExhausted"),  # acme reaches 2000 now: pending for 1m
        check("22m", "TenantQuotaExhausted", firing("TenantQuotaExhausted", 1.1, tenant="acme", enforcement="hard",
                                                    resource="api_calls_per_month")),
        check("22m", "TenantQuotaNearLimit",
              firing("TenantQuotaNearLimit", 1.1, tenant="acme", enforcement="hard", resource="api_calls_per_month"),
              firing("TenantQuotaNearLimit", 2.2, tenant="globex", enforcement="soft",
                     resource="api_calls_per_month")),
    ]},
    {"name": "one replica down among two", "input_series": [
        series("up", 'instance="a:9464"', "1x5 0x10"), series("up", 'instance="b:9464"', "1x15"),
    ], "alert_rule_test": [
        check("7m", "ReplicaDown"),
        check("9m", "ReplicaDown", firing("ReplicaDown", 0, instance="a:9464")),
    ]},
    {"name": "a rejected reload", "input_series": [
        series("tenant_exporter_config_last_reload_successful", 'instance="a:9464"', "1x5 0x10"),
        series("tenant_exporter_config_last_reload_successful", 'instance="b:9464"', "1x15"),
    ], "alert_rule_test": [
        check("6m", "ConfigReloadFailed"),
        check("8m", "ConfigReloadFailed", firing("ConfigReloadFailed", 0, instance="a:9464")),
    ]},
    {"name": "failed audit commits page, and one failure stops paging once it leaves the window", "input_series": [
        series("tenant_exporter_audit_write_failures_total", 'instance="a:9464"', "0x5 4x20"),
        series("tenant_exporter_audit_write_failures_total", 'instance="b:9464"', "0x25"),
    ], "alert_rule_test": [
        check("7m", "AuditWritesFailing"),
        check("9m", "AuditWritesFailing", firing("AuditWritesFailing", 4, instance="a:9464")),
        check("13m", "AuditWritesFailing"),
    ]},
    {"name": "audit writes waiting longer than a second for 5 minutes", "input_series": [
        series("tenant_exporter_audit_pending_age_seconds", 'instance="a:9464"', "0x5 3x10"),
        series("tenant_exporter_audit_pending_age_seconds", 'instance="b:9464"', "0.2x15"),
    ], "alert_rule_test": [
        check("10m", "AuditWritesLagging"),
        check("12m", "AuditWritesLagging", firing("AuditWritesLagging", 3, instance="a:9464")),
    ]},
    {"name": "every database probe failing", "input_series": [
        series("tenant_exporter_probe_success", 'instance="a:9464",service="database"', "1x5 0x10"),
        series("tenant_exporter_probe_success", 'instance="a:9464",service="api"', "1x15"),
        series("tenant_exporter_probe_success", 'instance="b:9464",service="database"', "1x5 0 1x9"),
    ], "alert_rule_test": [
        check("7m", "StoreUnavailable"),
        check("9m", "StoreUnavailable", firing("StoreUnavailable", 0, instance="a:9464")),
    ]},
    {"name": "an HTTP family nearing METRICS_MAX_SERIES", "input_series": [
        series("tenant_exporter_metrics_series", 'instance="a:9464",metric="http_requests_total"', "1000+50x40"),
        series("tenant_exporter_metrics_series_limit", 'instance="a:9464",metric="http_requests_total"', "2000x40"),
        series("tenant_exporter_metrics_series", 'instance="a:9464",metric="http_request_duration_seconds"',
               "40x40"),
        series("tenant_exporter_metrics_series_limit", 'instance="a:9464",metric="http_request_duration_seconds"',
               "2000x40"),
    ], "alert_rule_test": [
        check("26m", "MetricsSeriesNearCap"),
        check("28m", "MetricsSeriesNearCap", firing("MetricsSeriesNearCap", 1.2, instance="a:9464",
                                                    metric="http_requests_total")),
    ]},
    {"name": "a replica that cannot reach Redis for a minute, and only that one", "input_series": [
        series("tenant_exporter_rate_limit_shared", 'instance="a:9464"', "1x20"),
        series("tenant_exporter_rate_limit_shared", 'instance="b:9464"', "1x3 0x5 1x11"),
    ], "alert_rule_test": [
        check("4m30s", "RateLimitsPerReplica"),  # b at 0 since 4m: pending for 1m
        check("5m", "RateLimitsPerReplica", firing("RateLimitsPerReplica", 0, instance="b:9464")),
        check("10m", "RateLimitsPerReplica"),  # b shares again from 10m
    ]},
    {"name": "replicas on two config versions for five minutes; a reload that reaches every one in time is quiet",
     "input_series": [
         # a reload at 3m reaches b a minute later (no alert); from 10m b runs v3 alone (its files differ);
         # a replaced version's series goes stale at once, as in a scrape
         {"series": f'tenant_exporter_config_info{{{JOB},instance="a:9464",version="v1"}}', "values": "1x2 stale"},
         {"series": f'tenant_exporter_config_info{{{JOB},instance="a:9464",version="v2"}}', "values": "_x3 1x26"},
         {"series": f'tenant_exporter_config_info{{{JOB},instance="b:9464",version="v1"}}', "values": "1x3 stale"},
         {"series": f'tenant_exporter_config_info{{{JOB},instance="b:9464",version="v2"}}',
          "values": "_x4 1x5 stale"},
         {"series": f'tenant_exporter_config_info{{{JOB},instance="b:9464",version="v3"}}', "values": "_x10 1x19"},
     ], "alert_rule_test": [
        check("9m", "ConfigVersionsDiffer"),
        check("14m", "ConfigVersionsDiffer"),  # two versions since 10m: pending
        check("15m", "ConfigVersionsDiffer", firing("ConfigVersionsDiffer", 2)),
    ]},
    {"name": "a tenant nearing its custom series limit", "input_series": [
        series("tenant_exporter_custom_series", 'instance="a:9464",tenant="acme"', "950x20"),
        series("tenant_exporter_custom_series", 'instance="a:9464",tenant="globex"', "100x20"),
        series("tenant_exporter_custom_series_limit", 'instance="a:9464"', "1000x20"),
    ], "alert_rule_test": [
        check("14m", "CustomMetricSeriesNearLimit"),
        check("16m", "CustomMetricSeriesNearLimit", firing("CustomMetricSeriesNearLimit", 0.95, instance="a:9464",
                                                           tenant="acme")),
    ]},
]


@pytest.mark.promtool
def test_promtool_scenarios_fire_each_operational_alert(tmp_path: Path) -> None:
    """Under `promtool test rules` each operational alert fires after its `for` with its labels and rendered
    annotations, only for the tenant, instance or family concerned."""
    test_file = {"rule_files": [str(OPS_FILE)], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", **scenario} for scenario in SCENARIOS]}
    result = promtool.test_rules(tmp_path / "operations_test.yml", test_file)
    assert (0, "SUCCESS") == (result.returncode, result.stdout.strip().splitlines()[-1].strip()), \
        result.stdout + result.stderr


def test_every_operational_alert_is_exercised_firing() -> None:
    """Each alert of rules/operations.yml is expected to fire in some scenario above (none untested)."""
    fired = {c["alertname"] for s in SCENARIOS for c in s["alert_rule_test"] if c["exp_alerts"]}
    assert sorted(alerts()) == sorted(fired)


# --- every alert: summary, description and a runbook_url into docs/runbooks.md -------------------------------------
def every_alert() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, rule) for path in sorted((ROOT / "rules").glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def anchors() -> set[str]:
    """GitHub's anchors of docs/runbooks.md's headings (lower case, spaces to '-', other punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "runbooks.md").read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def alert_id(file: str, rule: dict[str, Any]) -> str:
    labels = rule["labels"]
    return f"{file}: {rule['alert']} ({', '.join(filter(None, (labels['severity'], labels.get('tier'))))})"


@pytest.mark.parametrize(("file", "rule"), every_alert(), ids=[alert_id(f, r) for f, r in every_alert()])
def test_every_alert_has_a_summary_a_description_and_a_runbook_section(file: str, rule: dict[str, Any]) -> None:
    """Each generated alert says what is wrong and links to its own section of docs/runbooks.md."""
    notes = rule["annotations"]
    base, _, anchor = notes["runbook_url"].partition("#")
    assert (True, True, True, True) == (bool(notes["summary"].strip()), bool(notes["description"].strip()),
                                         base.endswith("/docs/runbooks.md"), anchor in anchors()), notes


def test_the_runbook_base_url_is_where_every_default_points(tmp_path: Path) -> None:
    """Changing runbook_base_url in monitoring.yml moves every alert's runbook_url that was not written out."""
    from exporter.monitoring.config import load_monitoring
    from exporter.rulegen.prometheus import rule_files
    from tests.support.helpers import make_config_dir

    config = make_config_dir(tmp_path / "config")
    text = (config / "monitoring.yml").read_text()
    base = "https://github.com/tenant-exporter/tenant-exporter/blob/main/docs/runbooks.md"
    (config / "monitoring.yml").write_text(text.replace(base, "https://wiki.example.com/docs/runbooks.md"))
    urls = {r["annotations"]["runbook_url"].partition("#")[0] for f in rule_files(load_monitoring(config)).values()
            for g in f["groups"] for r in g["rules"] if "alert" in r}
    assert {"https://wiki.example.com/docs/runbooks.md"} == urls


# --- operational_alerts: mistakes name file, line and field ---------------------------------------------------------
OPS_BAD = [
    ("signal: quota_usage", "signal: quota", "operational_alerts[0].signal", "unknown signal 'quota'"),
    ("threshold: 80%", "threshold: 80", "operational_alerts[0].threshold", "quota_usage is a ratio: write e.g. 80%"),
    ("threshold: 1s", "threshold: 1 sec", "operational_alerts[5].threshold", "audit_pending_age is a seconds"),
    ("threshold: 0\n    for: 2m\n    severity: warning\n    summary: \"Replica",
     "threshold: none\n    for: 2m\n    severity: warning\n    summary: \"Replica",
     "operational_alerts[2].threshold", "target_up is a count: write e.g. 0 or 1"),
    ("match: {enforcement: hard}", "match: {plan: hard}", "operational_alerts[1].match.plan",
     "quota_usage has no label 'plan'"),
    ("severity: critical\n    summary: \"Tenant", "severity: page\n    summary: \"Tenant",
     "operational_alerts[1].severity", "must be one of warning, error, critical"),
    ('operator: ">="\n    threshold: 80%', 'operator: "=>"\n    threshold: 80%', "operational_alerts[0].operator",
     "must be one of"),
    ("name: ReplicaDown", "name: UptimeLow", "operational_alerts[2].name", "already the name of a rule in `rules:`"),
    ("name: ReplicaDown", "name: replica_down", "operational_alerts[2].name", "CamelCase"),
    ("    for: 1m\n    severity: warning", "    for: soon\n    severity: warning", "operational_alerts[3].for",
     "is not a duration"),
]


@pytest.mark.parametrize(("old", "new", "field", "message"), OPS_BAD, ids=[f"{f}: {m}" for _, _, f, m in OPS_BAD])
def test_a_bad_operational_alert_is_reported_with_file_line_and_field(
        tmp_path: Path, old: str, new: str, field: str, message: str) -> None:
    """Each mistake in operational_alerts names monitoring.yml, the line of the field, and the field."""
    from exporter.core.errors import ConfigError
    from exporter.monitoring.config import load_monitoring
    from tests.support.helpers import make_config_dir

    config = make_config_dir(tmp_path / "config")
    shipped = (config / "monitoring.yml").read_text()
    start = shipped.index("operational_alerts:")
    text = shipped[:start] + shipped[start:].replace(old, new, 1)
    assert text != shipped
    (config / "monitoring.yml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_monitoring(config)
    key = field.rsplit(".", 1)[-1]
    first = text[:text.index(new, start)].count("\n") + 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if n >= first and f"{key}:" in t)
    found = [str(i) for i in info.value.issues]
    assert [i for i in found if i.startswith(f"{config / 'monitoring.yml'}:{line}: {field}: ") and message in i], found
