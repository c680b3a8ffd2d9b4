"""The real Alertmanager (Debian's /usr/bin/prometheus-alertmanager) on a loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.service_process import free_port, terminate

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


class AlertmanagerProcess:
    """Alertmanager routing every alert to ``webhook_url`` at once (1 s group wait and interval), no cluster."""

    def __init__(self, workdir: Path, webhook_url: str, port: int | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.port = port or free_port()
        self.dir = workdir / f"alertmanager-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = config or {
            "route": {"receiver": "service", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "service", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
        }
        self.config_file = self.dir / "alertmanager.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = self.dir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AMTOOL, "check-config", str(self.config_file)], capture_output=True, text=True,
                              timeout=30, check=False)

    def start(self, timeout: float = 30.0) -> AlertmanagerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={self.config_file}", f"--storage.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
                stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited:\n{self.log.read_text()[-3000:]}")
            if self._request("GET", "/-/ready") is not None:
                return self
            time.sleep(0.2)
        raise TimeoutError(f"alertmanager did not become ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        terminate(self.proc)

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced and inhibited; not resolved), filtered by label equality."""
        query = "&".join(f"filter={urllib.request.quote(f'{k}={json.dumps(v)}')}" for k, v in filters.items())
        return list(self.api("GET", f"/api/v2/alerts?{query}") or [])

    def silences(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/v2/silences") or [])

    def expire(self, silence_id: str) -> None:
        self.api("DELETE", f"/api/v2/silence/{silence_id}")

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts``, as Prometheus sends them."""
        assert self._request("POST", "/api/v2/alerts", alerts) is not None

    def api(self, method: str, path: str) -> Any:
        raw = self._request(method, path)
        return json.loads(raw) if raw else None

    def _request(self, method: str, path: str, body: Any = None) -> bytes | None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return bytes(r.read())
        except (urllib.error.URLError, OSError):
            return None
