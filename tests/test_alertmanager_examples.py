"""deploy/alertmanager/examples (Slack, PagerDuty, email): valid for amtool, secrets read from files, pages and
tickets routed apart by severity, and, in the real Alertmanager, warnings inhibited by the error or critical
alert about the same thing only."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.alertmanager_process import AMTOOL, AlertmanagerProcess
from tests.support.helpers import ROOT

AM = ROOT / "deploy" / "alertmanager"
EXAMPLES = sorted((AM / "examples").glob("*.yml"))
TEMPLATES = AM / "templates" / "tenant-exporter.tmpl"
RECEIVERS = {"slack.yml": ("slack-oncall", "slack-team"), "pagerduty.yml": ("pagerduty-page", "pagerduty-ticket"),
             "email.yml": ("email-oncall", "email-team")}
CONFIGS = [*EXAMPLES, AM / "alertmanager.yml"]  # the examples and the stack's own
SECRET_FIELDS = {"api_url_file", "routing_key_file", "smtp_auth_password_file"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=30, check=False)


def local_copy(example: Path, tmp_path: Path) -> Path:
    """The example with its template glob and secret files pointed into ``tmp_path`` (as a mount would)."""
    config = yaml.safe_load(example.read_text())
    config["templates"] = [str(TEMPLATES)]
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)

    def relocate(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_FIELDS:
                    node[key] = str(secrets / Path(value).name)
                    (secrets / Path(value).name).write_text("https://hooks.example.invalid/not-a-real-secret\n")
                else:
                    relocate(value)
        elif isinstance(node, list):
            for item in node:
                relocate(item)

    relocate(config)
    path = tmp_path / example.name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def secret_values(node: Any) -> list[tuple[str, Any]]:
    """Every receiver field that holds a credential itself rather than naming a file."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("api_url", "routing_key", "service_key", "smtp_auth_password", "auth_password"):
                found.append((key, value))
            found += secret_values(value)
    elif isinstance(node, list):
        for item in node:
            found += secret_values(item)
    return found


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{p.name} passes amtool check-config" for p in EXAMPLES])
def test_each_example_passes_amtool_with_its_templates(example: Path, tmp_path: Path) -> None:
    """`amtool check-config` accepts the example with the shipped notification template, which it parses."""
    result = amtool("check-config", str(local_copy(example, tmp_path)))
    assert (0, True) == (result.returncode, "SUCCESS" in result.stdout and " - 1 templates" in result.stdout), \
        result.stdout + result.stderr
    assert [] == secret_values(yaml.safe_load(example.read_text()))  # credentials only ever come from files


@pytest.mark.parametrize(("example", "severity", "receiver"), [
    (name, severity, pair[0] if severity in ("critical", "error") else pair[1])
    for name, pair in RECEIVERS.items() for severity in ("critical", "error", "warning")
], ids=[f"{name}: {severity} goes to {'the page' if severity != 'warning' else 'the ticket'} receiver"
        for name in RECEIVERS for severity in ("critical", "error", "warning")])
def test_pages_and_tickets_are_routed_apart(example: str, severity: str, receiver: str) -> None:
    """`amtool config routes test` sends critical and error alerts to the paging receiver, warnings to tickets."""
    result = amtool("config", "routes", "test", f"--config.file={AM / 'examples' / example}", f"severity={severity}",
                    "alertname=Anything")
    assert (0, receiver) == (result.returncode, result.stdout.strip())


def test_the_template_renders_summary_description_and_runbook(tmp_path: Path) -> None:
    """The notification text shows each alert's summary, description and runbook link."""
    both = '{{ template "tenant_exporter.title" . }}|{{ template "tenant_exporter.text" . }}'
    result = amtool("template", "render", f"--template.glob={TEMPLATES}", "--template.text", both)
    assert 0 == result.returncode, result.stderr
    text = TEMPLATES.read_text()
    assert all(f".Annotations.{field}" in text for field in ("summary", "description", "runbook_url"))


def alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, "job": "tenant-exporter", **labels},
            "annotations": {"summary": name, "description": name, "runbook_url": "https://example.invalid/#x"}}


@pytest.mark.e2e
@pytest.mark.parametrize("example", CONFIGS, ids=[f"{p.name} inhibits in the real Alertmanager" for p in CONFIGS])
def test_warnings_are_inhibited_by_the_page_about_the_same_thing_only(example: Path, tmp_path: Path) -> None:
    """In Alertmanager with the example's config, acme's exhausted hard quota mutes acme's 80 % ticket for that
    resource, not globex's nor acme's other resource; ResponseTimeCritical mutes ResponseTimeWarning on its
    replica only; an SLO's page tier mutes its ticket tier."""
    manager = AlertmanagerProcess(tmp_path, "", config=yaml.safe_load(local_copy(example, tmp_path).read_text()))
    manager.start()
    try:
        quota = {"signal": "quota_usage", "enforcement": "hard"}
        manager.post_alerts([
            alert("TenantQuotaExhausted", "critical", tenant="acme", resource="api_calls_per_month", **quota),
            alert("TenantQuotaNearLimit", "warning", tenant="acme", resource="api_calls_per_month", **quota),
            alert("TenantQuotaNearLimit", "warning", tenant="acme", resource="cases", **quota),
            alert("TenantQuotaNearLimit", "warning", tenant="globex", resource="api_calls_per_month", **quota),
            alert("ResponseTimeCritical", "error", signal="response_time", instance="a:9464"),
            alert("ResponseTimeWarning", "warning", signal="response_time", instance="a:9464"),
            alert("ResponseTimeWarning", "warning", signal="response_time", instance="b:9464"),
            alert("ApiAvailabilityBudgetBurn", "critical", sloth_service="api", sloth_slo="availability",
                  tier="page-1h"),
            alert("ApiAvailabilityBudgetBurn", "warning", sloth_service="api", sloth_slo="availability",
                  tier="ticket-1d"),
        ])
        deadline = time.monotonic() + 20
        while True:
            states = {(a["labels"]["alertname"], a["labels"].get("tenant") or a["labels"].get("instance")
                       or a["labels"].get("tier"), a["labels"].get("resource")): a["status"]["state"]
                      for a in manager.alerts()}
            if "suppressed" in states.values() or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert {
            ("TenantQuotaExhausted", "acme", "api_calls_per_month"): "active",
            ("TenantQuotaNearLimit", "acme", "api_calls_per_month"): "suppressed",
            ("TenantQuotaNearLimit", "acme", "cases"): "active",
            ("TenantQuotaNearLimit", "globex", "api_calls_per_month"): "active",
            ("ResponseTimeCritical", "a:9464", None): "active",
            ("ResponseTimeWarning", "a:9464", None): "suppressed",
            ("ResponseTimeWarning", "b:9464", None): "active",
            ("ApiAvailabilityBudgetBurn", "page-1h", None): "active",
            ("ApiAvailabilityBudgetBurn", "ticket-1d", None): "suppressed",
        } == states
    finally:
        manager.stop()
