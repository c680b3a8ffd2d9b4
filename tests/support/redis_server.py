"""Redis for the shared rate limits: the machine's server with a key prefix of the test's own, or a private
``redis-server`` (own port, nothing saved) that a test may stop, start again, freeze and thaw."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from dataclasses import dataclass

from tests.support.service_process import free_port

SHARED_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisTarget:
    """What a replica needs to share its rate limits: REDIS_URL and a key prefix no other test uses."""

    url: str
    prefix: str

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url, "REDIS_KEY_PREFIX": self.prefix}

    @property
    def settings(self) -> dict[str, str]:
        return {"redis_url": self.url, "redis_key_prefix": self.prefix}


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


def answers(port: int) -> bool:
    done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
    return done.stdout.strip() == "PONG"


class RedisServer:
    """A private redis-server on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.target = RedisTarget(f"redis://127.0.0.1:{self.port}/0", unique_prefix())

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not answers(self.port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on {self.port} did not answer")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop it for good (its data goes with it: nothing is saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            self.proc.terminate()
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as on a hung host."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
