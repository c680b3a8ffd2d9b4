"""Schemathesis against the running service: no 5xx, and every answer matches the description.

The schema is the service's own (built from its routes); the service runs as a real process on
loopback with a tenant whose rate limit is far above the load, so answers are not throttled.
Examples per operation are bounded (FUZZ_EXAMPLES, default 25) to keep CI within minutes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from exporter.app.composition import create_app
from exporter.http.openapi import build_spec
from exporter.settings import Settings
from tests.support.helpers import make_config_dir
from tests.support.service_process import ServiceProcess

MAX_BODY_BYTES = Settings().max_body_bytes
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_TENANT = {"id": "fuzz", "name": "Fuzz", "plan": "enterprise", "region": "eu-west",
               "rate_limit": {"requests_per_second": 1e9, "burst": 1_000_000_000}}


def _spec() -> dict:
    app = create_app(Settings.from_env({}), registry=CollectorRegistry())
    return build_spec(app)


schema = schemathesis.openapi.from_dict(_spec())
# Schema-valid requests only: the property is "valid input never meets a 5xx or a wrong answer";
# hostile and invalid input has its own tests (test_hostile_input.py), with the exact 4xx each gets.
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    make_config_dir(workdir / "config", tenants=[FUZZ_TENANT])
    service = ServiceProcess(workdir, {"DATABASE_URL": f"sqlite:///{workdir}/fuzz.db"})
    # an operator key: every role check passes, so the fuzzer reaches every handler's validation
    token = service.cli("keys", "create", "--tenant", "fuzz", "--role", "operator").stdout.strip()
    service.start()
    yield service, token
    assert 0 == service.stop()
    log = service.log.read_text()
    assert "Traceback" not in log, log[-4000:]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_answers_match_the_schema(case: schemathesis.Case, live: tuple[ServiceProcess, str]) -> None:
    """Generated requests never get a 5xx, and status, content type, headers and body match the spec."""
    service, token = live
    # a cursor is opaque: a random one is rightly refused, though the schema can only say "string";
    # a custom metric's timestamp is checked against the clock, and its tags' total length against
    # a sum, neither of which a schema can say
    # and a body over MAX_BODY_BYTES is rightly refused (413), which a schema cannot say either; nor that a
    # maintenance window must name configured services and end in the future; a tenant's plan, region,
    # features and limits must exist in the config files in force (422 otherwise)
    excluded = [schemathesis.checks.positive_data_acceptance] if (case.query or {}).get("cursor") or (
        case.path == "/api/monitoring/maintenance" and case.method == "POST") or (
        case.path.startswith("/api/admin/tenants") and case.method in ("POST", "PATCH")) or (
        case.path == "/api/monitoring/metrics/custom" and isinstance(case.body, dict)
        and (case.body.get("timestamp") is not None or len(str(case.body.get("tags", ""))) > 1000)) or (
        len(json.dumps(case.body)) > MAX_BODY_BYTES if isinstance(case.body, dict | list) else False) else []
    case.call_and_validate(base_url=service.url, headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=excluded)
