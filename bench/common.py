"""Shared benchmark plumbing: start servers pinned to a core, run wrk pinned to another, parse it.

Every benchmark compares variants inside one run (interleaved rounds, medians), so the ratio
holds on any machine even where the absolute figures do not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if shutil.which("taskset") else list(argv)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us_per_request: float = 0.0


def wrk(url: str, *, seconds: int, connections: int, headers: Mapping[str, str] | None = None,
        script: Path | None = None) -> WrkResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(pinned(LOAD_CPU, [*argv, url]), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, _ms(pct["50"]), _ms(pct["99"]), errors, requests)


def measured(server: Server, url: str, **kwargs: object) -> WrkResult:
    """wrk against ``server``, with the server's CPU time per request (robust to a busy machine)."""
    before = server.cpu_seconds()
    result = wrk(url, **kwargs)  # type: ignore[arg-type]
    result.cpu_us_per_request = (server.cpu_seconds() - before) / max(1, result.requests) * 1e6
    return result


def _ms(raw: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", raw).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def bench_config(dest: Path, tenants: int = 1) -> Path:
    """The shipped config with ``bench`` tenants whose rate limit and quota are far above any load."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "config").glob("*.yml"):
        shutil.copy(f, dest / f.name)
    rows = [{"id": "bench" if i == 0 else f"tenant-{i:03d}", "name": f"Bench {i}", "plan": "enterprise",
             "region": "us-east", "rate_limit": {"requests_per_second": 1e9, "burst": 1_000_000_000}}
            for i in range(tenants)]
    (dest / "tenants.yml").write_text(yaml.safe_dump({"version": 1, "tenants": rows}, sort_keys=False))
    return dest


class Server:
    """One tenant-exporter process pinned to SERVER_CPU, with its own SQLite file."""

    def __init__(self, name: str, env: Mapping[str, str], tenants: int = 1, argv: Sequence[str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        config = bench_config(self.dir / "config", tenants)
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "CONFIG_DIR": str(config),
                    "DATABASE_URL": f"sqlite:///{self.dir}/bench.db", "LOG_LEVEL": "WARNING", **env}
        self.argv = list(argv) if argv else [PYTHON, "-m", "exporter", "serve"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, tenant: str = "bench", role: str = "viewer") -> str:
        out = subprocess.run([PYTHON, "-m", "exporter", "keys", "create", "--tenant", tenant, "--role", role],
                             env=self.env, capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def start(self, ready_path: str = "/-/ready", timeout: float = 30.0) -> Server:
        self.proc = subprocess.Popen(pinned(SERVER_CPU, self.argv), env=self.env, cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not start")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there a minute later (valgrind's exit on a loaded machine is slow)."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_bytes(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:  # taskset execs, so the pid is the server's
            return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) * 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (all its threads)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    lines = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*(str(x) for x in row)) for row in rows]
    return "\n".join(lines)


def save_report(prefix: str, report: dict[str, Any]) -> None:
    """Write ``report`` to bench/results/<prefix>-<UTC time>.json and say where, with the load average at start."""
    out = ROOT / "bench" / "results" / f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nsaved {out.relative_to(ROOT)}; load average at start {report['load_avg']}")
