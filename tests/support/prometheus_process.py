"""The real Prometheus server (Debian's /usr/bin/prometheus) on a loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.service_process import free_port, terminate


class PrometheusProcess:
    def __init__(self, workdir: Path, targets: Sequence[str], *, rule_files: Sequence[Path] = (),
                 alertmanagers: Sequence[str] = (), interval: str = "1s", job: str = "tenant-exporter",
                 config: dict[str, Any] | None = None, port: int | None = None) -> None:
        """A generated config scraping ``targets``; or ``config`` as given (e.g. the project's, rewritten)."""
        self.port = port or free_port()
        self.dir = workdir / f"prometheus-{self.port}"
        self.dir.mkdir(parents=True)
        config = config or {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        if rule_files:
            config["rule_files"] = [str(p) for p in rule_files]
        if alertmanagers and "alerting" not in config:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
        self.config_file = self.dir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = self.dir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusProcess:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.config_file}", f"--storage.tsdb.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        self._wait(lambda: self._get("/-/ready") is not None, timeout, "Prometheus did not become ready")
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        raw = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if raw is None:
            raise RuntimeError(f"query failed: {expr}")
        body = json.loads(raw)
        assert "success" == body["status"], body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def api(self, path: str) -> Any:
        raw = self._get(path)
        return json.loads(raw) if raw is not None else None

    def wait_for(self, expr: str, predicate: Callable[[float | None], bool], timeout: float = 30.0) -> float | None:
        last: list[float | None] = [None]

        def check() -> bool:
            last[0] = self.value(expr)
            return predicate(last[0])

        self._wait(check, timeout, f"{expr} never satisfied the condition (last value {last[0]})")
        return last[0]

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return bytes(r.read())
        except OSError:
            return None

    def _wait(self, check: Callable[[], bool], timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
            if check():
                return
            time.sleep(0.25)
        raise TimeoutError(f"{message}\n{self.log.read_text()[-3000:]}")
