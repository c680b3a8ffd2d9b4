"""No input can make a scrape invalid: generated names, tags and values go through the real endpoint,
and after each batch the whole `/metrics` answer must parse in `promtool check metrics`.

promtool exits 1 when the exposition does not parse (what Prometheus would refuse) and 3 for lint
findings; a custom name a user chose may draw a lint finding (``orders_B`` "contains abbreviated
units"), which Prometheus ingests all the same, so only those, and only on custom metrics, may appear.

The generator leans on the shapes that broke before (a valid name plus a trailing newline, carriage
return, NUL, colon, space or non-ASCII letter) and mixes in arbitrary text. The service runs as a
real process on loopback; examples are bounded (SCRAPE_EXAMPLES, default 40) to keep CI in minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.helpers import make_config_dir
from tests.support.promtool import PROMTOOL
from tests.support.service_process import ServiceProcess

EXAMPLES = int(os.environ.get("SCRAPE_EXAMPLES", "40"))
TENANT = {"id": "probe", "name": "Probe", "plan": "enterprise", "region": "eu-west",
          "rate_limit": {"requests_per_second": 1e9, "burst": 1_000_000_000}}

_valid = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
_tails = st.sampled_from(["\n", "\r", "\r\n", "\x00", ":", " ", "é", "\u2028", "\t", "-", "{", '"', ""])
names = st.one_of(
    st.builds(lambda name, tail: name + tail, _valid, _tails),
    st.builds(lambda tail, name: tail + name, _tails, _valid),
    st.text(min_size=1, max_size=30),
)
samples = st.fixed_dictionaries({
    "name": names,
    "value": st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False)),
    "tags": st.dictionaries(names, st.text(max_size=40), max_size=3),
})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    workdir: Path = tmp_path_factory.mktemp("scrape")
    make_config_dir(workdir / "config", tenants=[TENANT])
    service = ServiceProcess(workdir, {"DATABASE_URL": f"sqlite:///{workdir}/scrape.db"})
    token = service.cli("keys", "create", "--tenant", "probe", "--role", "service").stdout.strip()
    service.start()
    yield service, token
    assert 0 == service.stop()


def _post(service: ServiceProcess, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(f"{service.url}/api/monitoring/metrics/custom", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return e.code


@given(batch=st.lists(samples, min_size=1, max_size=5))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_accepted_input_makes_the_scrape_invalid(batch: list[dict[str, Any]],
                                                    live: tuple[ServiceProcess, str]) -> None:
    """Every sample is accepted or refused with a 4xx, and the scrape after them passes promtool."""
    service, token = live
    statuses = [_post(service, token, body) for body in batch]
    assert [] == [s for s in statuses if not (s == 200 or 400 <= s < 500)]
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as answer:
        scrape = answer.read()
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=scrape.decode(), capture_output=True, timeout=30,
                             check=False, text=True)
    findings = (checked.stdout + checked.stderr).splitlines()
    assert checked.returncode in (0, 3), (checked.returncode, findings, batch)
    assert [] == [line for line in findings if not line.startswith("tenant_exporter_custom_")], batch
