"""monitoring.yml `services:` and `sla:`: built-in services, exact targets, and mistakes named by file, line, field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exporter.core.errors import ConfigError
from exporter.monitoring.config import load_monitoring
from tests.support.helpers import ROOT, make_config_dir

BASE = """version: 1
evaluation_interval: 15s
window: 5m
probes: {interval: 15s, timeout: 2s}
rules: []
"""


def write(tmp_path: Path, extra: str) -> Path:
    return make_config_dir(tmp_path / "config", **{"monitoring.yml": BASE + extra})


def test_shipped_file_probes_the_api_and_the_database_at_99_9_percent() -> None:
    """The shipped monitoring.yml lists api (self-probe) and database (store ping), each with target 99.9 %."""
    monitoring = load_monitoring(ROOT / "config")
    assert [("api", "self", Decimal("0.999"), 15_000, 2_000, 1_000), ("database", "store", Decimal("0.999"), 15_000,
                                                                       1_000, None)] == [
        (s.name, s.kind, s.target.ratio, s.interval_ms, s.timeout_ms, s.degraded_above_ms) for s in monitoring.services]
    assert (2, 60_000, 20) == (monitoring.sla.breach_min_failures, monitoring.sla.breach_min_duration_ms,
                               monitoring.sla.alert_min_events)


def test_without_a_services_section_the_built_in_services_are_still_probed(tmp_path: Path) -> None:
    """A monitoring.yml from before issue 6 (no services:) probes api and database with the default 99.9 %."""
    monitoring = load_monitoring(write(tmp_path, ""))
    assert [("api", "99.9%"), ("database", "99.9%")] == [(s.name, s.target.text) for s in monitoring.services]


def test_http_and_tcp_services_as_gatus_describes_them(tmp_path: Path) -> None:
    """An HTTP service (url, expected status, interval, timeout) and a TCP one (host:port) load with their targets."""
    monitoring = load_monitoring(write(tmp_path, """services:
  docs:
    type: http
    url: https://docs.example.com/healthz
    expected_status: 204
    interval: 30s
    timeout: 5s
    degraded_above: 800ms
    sla_target: 99.95%
  cache: {type: tcp, address: "[::1]:6379", sla_target: 99%, title: Cache}
"""))
    docs, cache = monitoring.service("docs"), monitoring.service("cache")
    assert ("http", "https://docs.example.com/healthz", 204, 30_000, 5_000, 800, "0.9995", "0.0005") == (
        docs.kind, docs.url, docs.expected_status, docs.interval_ms, docs.timeout_ms, docs.degraded_above_ms,
        docs.target.literal, docs.target.budget_literal)
    assert ("tcp", "::1", 6379, "Cache", 15_000, "0.01") == (cache.kind, cache.host, cache.port, cache.title,
                                                             cache.interval_ms, cache.target.budget_literal)
    assert ["api", "database", "docs", "cache"] == [s.name for s in monitoring.services]


MISTAKES = [
    ("services:\n  docs: {type: http, url: 'ftp://x', sla_target: 99%}\n", 7, "services.docs.url",
     "must be an absolute http(s) URL; got 'ftp://x'"),
    ("services:\n  docs: {url: 'http://x/', sla_target: 99%}\n", 7, "services.docs.type",
     "required field is missing (http or tcp)"),
    ("services:\n  api: {sla_target: 99.9}\n", 7, "services.api.sla_target",
     "write the target as a percentage, e.g. '99.9%'; got 99.9"),
    ("services:\n  api:\n    sla_target: 100%\n", 8, "services.api.sla_target",
     "must be above 0% and below 100% (100% leaves no error budget)"),
    ("services:\n  api:\n    type: http\n", 8, "services.api.type", "'api' is built in; it has no type"),
    ("services:\n  cache: {type: tcp, address: 'cache:99999'}\n", 7, "services.cache.address",
     "write host:port (e.g. cache.internal:6379 or [::1]:5432); got 'cache:99999'"),
    ("services:\n  cache:\n    type: tcp\n    address: 'c:1'\n    interval: 5s\n    timeout: 10s\n", 11,
     "services.cache.timeout", "must not exceed the interval (5s)"),
    ("services:\n  Cache: {type: tcp, address: 'c:1'}\n", 7, "services.Cache",
     "a service name is lowercase letters, digits, '-' or '_' (at most 40), starting with a letter"),
    ("services:\n  cache: {type: tcp, address: 'c:1', colour: red}\n", 7, "services.cache.colour",
     "unknown field (check the spelling)"),
    ("sla:\n  breach_min_failures: 0\n", 7, "sla.breach_min_failures", "must be between 1 and 1000"),
    ("sla:\n  breach_min_duration: soon\n", 7, "sla.breach_min_duration",
     "'soon' is not a duration (write e.g. 15s, 5m, 1h30m)"),
]


@pytest.mark.parametrize(("extra", "line", "field", "message"), MISTAKES, ids=[
    "an ftp url", "an extra service without a type", "a bare number as target", "a 100% target",
    "a type on a built-in service", "a port out of range", "a timeout longer than the interval",
    "an upper-case service name", "an unknown field", "zero failures for a breach", "a duration that is not one"])
def test_a_mistake_is_named_by_file_line_and_field(tmp_path: Path, extra: str, line: int, field: str,
                                                   message: str) -> None:
    """Each invalid services:/sla: entry is refused with the file, the line and the field to edit."""
    config = write(tmp_path, extra)
    with pytest.raises(ConfigError) as caught:
        load_monitoring(config)
    assert [f"{config / 'monitoring.yml'}:{line}: {field}: {message}"] == [str(i) for i in caught.value.issues]
