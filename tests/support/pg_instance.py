"""A private PostgreSQL server for fault tests: its own data directory and port, so stopping it
affects nothing else on the machine. Needs the Debian postgresql binaries and root (or the
postgres user) to run initdb as ``postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.service_process import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"{name} not found under /usr/lib/postgresql (install Debian's postgresql)")
    return found[-1]


class PgInstance:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pg-fault-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        shutil.chown(self.dir, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_postgres, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> PgInstance:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                capture_output=True, check=False)
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("private PostgreSQL did not start")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the postmaster, then its children (backends, checkpointer, ...): connections stay
        open and nothing answers, as with a hung host. SIGCONT to every one of them on the way out."""
        postmaster = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        stopped: list[int] = []
        try:
            os.kill(postmaster, signal.SIGSTOP)  # first, so that it forks no backend the list misses
            stopped.append(postmaster)
            children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True,
                                      check=False).stdout.split()
            for pid in map(int, children):
                with contextlib.suppress(ProcessLookupError):  # a backend that has just exited
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
            yield
        finally:
            for pid in reversed(stopped):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
