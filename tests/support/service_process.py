"""Run the real service as a separate process on a loopback port, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """Stop a helper process (Prometheus, Alertmanager, Chromium): SIGTERM, SIGKILL after ``timeout`` s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ServiceProcess:
    """``python -m exporter serve`` with its own environment; ``stop()`` sends SIGTERM."""

    def __init__(self, workdir: Path, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), **env}
        self.log = workdir / f"service-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "exporter", *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], cwd=self.workdir,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"service did not become ready:\n{self.log.read_text()}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def keep_sending(http: aiohttp.ClientSession, path: str, pause: float, headers: dict[str, str] | None = None,
                       ) -> None:
    """One request after another on ``path`` until cancelled."""
    while True:
        async with http.get(path, headers=headers) as r:
            await r.read()
        await asyncio.sleep(pause)


@contextlib.asynccontextmanager
async def sending(http: aiohttp.ClientSession, path: str, pause: float) -> AsyncIterator[None]:
    """``keep_sending`` on ``path`` while inside (e.g. 500s from ``/-/test/status/500``: an error burst)."""
    task = asyncio.create_task(keep_sending(http, path, pause))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await task
