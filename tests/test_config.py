"""Config files: the shipped ones load; every kind of mistake is reported with file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.core.errors import ConfigError
from exporter.settings import DefaultTenant, Settings
from exporter.tenancy.loader import load_catalog
from tests.support.helpers import ROOT, TWO_TENANTS, make_config_dir


def issues_of(config_dir: Path, default: DefaultTenant | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_catalog(config_dir, default or DefaultTenant())
    return [str(i) for i in info.value.issues]


def test_shipped_config_defines_the_four_plans_and_the_default_tenant() -> None:
    """The shipped config loads, has the seed's four plans, and yields the env-described tenant."""
    catalog = load_catalog(ROOT / "config", DefaultTenant())
    assert ["free", "standard", "professional", "enterprise"] == list(catalog.plans)
    assert ["default-tenant"] == list(catalog.tenants)
    tenant = catalog.tenants["default-tenant"]
    assert ("professional", "us-east") == (tenant.plan.name, tenant.region.id)
    assert {"advanced_analytics", "ai_orchestration", "real_time_collaboration", "custom_integrations",
            "api_access"} <= set(tenant.enabled_features)
    assert {"api_calls_per_month": 5000000, "storage_gb": 1000, "team_members": 50, "cases": 1000} == {
        k: v.value for k, v in tenant.limits.items()}


def test_default_tenant_comes_from_tenant_environment_variables(tmp_path: Path) -> None:
    """With no tenants in tenants.yml, TENANT_ID/NAME/PLAN/REGION describe the one tenant."""
    env = {"TENANT_ID": "tenant-123", "TENANT_NAME": "Acme Corp", "TENANT_PLAN": "enterprise",
           "TENANT_REGION": "eu-west"}
    settings = Settings.from_env(env)
    catalog = load_catalog(ROOT / "config", settings.default_tenant)
    tenant = catalog.tenants["tenant-123"]
    assert ("Acme Corp", "enterprise", "eu-west") == (tenant.name, tenant.plan.name, tenant.region.id)


def test_unknown_default_plan_is_a_startup_error() -> None:
    """A TENANT_PLAN that names no plan is reported against the environment variable."""
    found = issues_of(ROOT / "config", DefaultTenant(plan="platinum"))
    assert any("TENANT_PLAN" in i and "platinum" in i for i in found), found


def test_tenant_overrides_layer_over_the_plan(tmp_path: Path) -> None:
    """A tenant's feature add/remove and limit overrides win over its plan, and say so."""
    catalog = load_catalog(make_config_dir(tmp_path, tenants=TWO_TENANTS), DefaultTenant())
    acme, globex = catalog.tenants["acme"], catalog.tenants["globex"]
    assert (False, "tenant_override") == (acme.feature("ai_orchestration").enabled,
                                          acme.feature("ai_orchestration").source)
    assert (True, "plan", "STATIC") == (acme.feature("sso").enabled, acme.feature("sso").source,
                                        acme.feature("sso").reason)
    assert (True, "TARGETING_MATCH") == (globex.feature("advanced_analytics").enabled,
                                         globex.feature("advanced_analytics").reason)
    assert 250000 == acme.limits["cases"].value
    assert acme.limits["api_calls_per_month"].soft  # enterprise's soft limit is inherited
    assert not globex.limits["api_calls_per_month"].soft


BAD_TENANT_CASES = [
    ({"plan": "platinum"}, "tenants[0].plan", "unknown plan 'platinum'"),
    ({"region": "mars-1"}, "tenants[0].region", "unknown region 'mars-1'"),
    ({"features": {"add": ["teleport"]}}, "tenants[0].features.add[0]", "unknown feature 'teleport'"),
    ({"limits": {"cases": -5}}, "tenants[0].limits.cases", "must not be negative"),
    ({"limits": {"seats": 5}}, "tenants[0].limits.seats", "unknown limit"),
    ({"plna": "free"}, "tenants[0].plna", "unknown field"),
    ({"limits": {"cases": "many"}}, "tenants[0].limits.cases", "must be a number"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_TENANT_CASES,
                         ids=[c[2] for c in BAD_TENANT_CASES])
def test_a_bad_tenant_is_reported_with_file_line_and_field(
    tmp_path: Path, change: dict, field: str, message: str
) -> None:
    """Each mistake in tenants.yml names tenants.yml, the line of the field, and the field."""
    tenant = {**TWO_TENANTS[1], **change}
    config = make_config_dir(tmp_path, tenants=[tenant])
    found = issues_of(config)
    lines = (config / "tenants.yml").read_text().splitlines()
    key = field.rsplit(".", 1)[-1].split("[")[0]
    expected_line = next(n for n, text in enumerate(lines, 1) if key + ":" in text or f"- {key}" in text)
    assert any(
        i.startswith(f"{config / 'tenants.yml'}:") and field in i and message in i for i in found
    ), found
    assert any(f"tenants.yml:{expected_line}:" in i or f"tenants.yml:{expected_line + 1}:" in i for i in found), (
        found, expected_line)


def test_duplicate_tenant_id_is_reported(tmp_path: Path) -> None:
    """Two tenants with the same id are refused, pointing at the second one."""
    config = make_config_dir(tmp_path, tenants=[TWO_TENANTS[1], TWO_TENANTS[1]])
    found = issues_of(config)
    assert any("tenants[1].id" in i and "duplicate tenant id 'globex'" in i for i in found), found


def test_typo_in_plans_names_the_line(tmp_path: Path) -> None:
    """A misspelt key in plans.yml is reported at its own line."""
    text = (ROOT / "config" / "plans.yml").read_text().replace("    audit_retention_days: 90",
                                                               "    audit_retention_dayz: 90")
    config = make_config_dir(tmp_path, **{"plans.yml": text})
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "audit_retention_dayz" in t)
    assert [f"{config / 'plans.yml'}:{line}: plans.standard.audit_retention_dayz: unknown field (check the spelling)"
            ] == issues_of(config)


def test_duplicate_yaml_key_and_syntax_errors_are_reported(tmp_path: Path) -> None:
    """YAML that silently overrides a key, or does not parse, is refused with the line."""
    config = make_config_dir(tmp_path, **{"regions.yml": "version: 1\nregions:\n  a:\n    api_base_url: http://a\n"
                                                         "  a:\n    api_base_url: http://b\n"})
    assert any("regions.yml:5: regions.a: duplicate key" in i for i in issues_of(config))
    make_config_dir(tmp_path, **{"regions.yml": "version: 1\nregions: [\n"})
    found = issues_of(config)
    assert len(found) == 1 and "regions.yml:3:" in found[0] and "invalid YAML" in found[0], found


def test_plan_missing_a_limit_and_negative_limit(tmp_path: Path) -> None:
    """Every plan must set all four limits, none negative."""
    text = (ROOT / "config" / "plans.yml").read_text()
    text = text.replace("      cases: 50\n", "").replace("      storage_gb: 100\n", "      storage_gb: -1\n")
    found = issues_of(make_config_dir(tmp_path, **{"plans.yml": text}))
    assert any("plans.free.limits.cases: required limit is missing" in i for i in found), found
    assert any("plans.standard.limits.storage_gb: must not be negative" in i for i in found), found


def test_check_config_command_exits_nonzero_with_file_line_field(tmp_path: Path) -> None:
    """`tenant-exporter check-config` prints file:line: field and exits 1 on a typo, 0 when fine."""
    good = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config-dir", str(ROOT / "config")],
                          capture_output=True, text=True, check=False)
    assert 0 == good.returncode, good.stderr
    assert "config OK" in good.stdout
    config = make_config_dir(tmp_path, tenants=[{**TWO_TENANTS[1], "plan": "fre"}])
    bad = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config-dir", str(config)],
                         capture_output=True, text=True, check=False)
    assert 1 == bad.returncode
    assert f"{config / 'tenants.yml'}:" in bad.stderr and "tenants[0].plan: unknown plan 'fre'" in bad.stderr
