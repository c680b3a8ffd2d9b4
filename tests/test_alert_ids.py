"""Alert ids are the fingerprints Alertmanager computes for the same labels (the real binary says so)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.monitoring.alerts import fingerprint
from tests.support.service_process import free_port

pytestmark = pytest.mark.promtool
LABEL_SETS = [
    {"alertname": "ResponseTimeCritical", "severity": "error", "signal": "response_time"},
    {"alertname": "UptimeLow", "severity": "error", "signal": "uptime", "service": "api"},
    {"alertname": "Ünïcode", "severity": "warning", "signal": "cpu", "note": "a\xffb"},
]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "prometheus-alertmanager"
    (tmp_path / "am.yml").write_text('route: {receiver: "null"}\nreceivers: [{name: "null"}]\n')
    port = free_port()
    with (tmp_path / "am.log").open("wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_ids_are_alertmanager_fingerprints(alertmanager: str) -> None:
    """Posting the label sets to Alertmanager's v2 API gives back our ids as its fingerprints."""
    body = json.dumps([{"labels": labels} for labels in LABEL_SETS]).encode()
    request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass
    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts", timeout=5) as r:
        theirs = {a["labels"]["alertname"]: a["fingerprint"] for a in json.load(r)}
    assert {labels["alertname"]: fingerprint(labels) for labels in LABEL_SETS} == theirs
