"""Long commands show progress on a terminal (done, rate, time left) and nothing of it when piped."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.audit.events import SCHEMA_VERSION
from exporter.core.progress import Progress, duration
from exporter.store import AuditRecord, open_store
from tests.support.audit_search_data import write
from tests.support.helpers import make_config_dir

EVENTS = 12_000  # more than one batch of the command line's 5,000, so progress is drawn mid-way


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


LINES = {
    "a known total": ({"total": 1_000}, 500, None, 10.0, "verifying: 500 of 1,000 events (50%), 50/s, 10s left"),
    "a position instead of a total": ({}, 300, 0.25, 60.0, "verifying: 300 events (25%), 5/s, 3m00s left"),
    "neither": ({}, 300, None, 3.0, "verifying: 300 events, 100/s"),
    "the end": ({"total": 40}, 40, None, 2.0, "verifying: 40 of 40 events (100%), 20/s"),
}


@pytest.mark.parametrize("case", list(LINES), ids=list(LINES))
def test_a_progress_line_says_what_is_done_how_fast_and_how_long_is_left(case: str) -> None:
    """The line shows events done (of the total when known), the share done, the rate and the time left."""
    kwargs, done, fraction, elapsed, line = LINES[case]
    clock = FakeClock()
    progress = Progress("verifying", stream=Terminal(), clock=clock, **kwargs)  # type: ignore[arg-type]
    clock.now += elapsed
    assert line == progress.line(done, elapsed, fraction)


@pytest.mark.parametrize(("seconds", "text"), [(42.4, "42s"), (187, "3m07s"), (7500, "2h05m")],
                         ids=["seconds", "minutes", "hours"])
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    """Time left reads 42s, 3m07s or 2h05m."""
    assert text == duration(seconds)


def test_a_terminal_sees_redraws_of_one_line_and_a_pipe_sees_nothing() -> None:
    """On a terminal, updates redraw one line (at most five times a second) and ``done()`` clears it; on
    anything else, nothing is written."""
    clock = FakeClock()
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress("exporting", stream=stream, clock=clock)
        for i in range(1, 6):
            clock.now += 0.125
            progress.update(i * 100)
        progress.done()
    drawn = ["", "exporting: 100 events, 800/s", "exporting: 300 events, 800/s", "exporting: 500 events, 800/s", ""]
    assert (drawn, "") == (terminal.getvalue().split("\r\x1b[K"), pipe.getvalue())


@pytest.fixture
async def workdir(tmp_path: Path, database_url: str) -> Path:
    make_config_dir(tmp_path / "config")
    store = await open_store(database_url)
    await write(store, [AuditRecord("default-tenant", 0, f"01J{i:023d}", 1_795_000_000.0 + i, "usage.report",
                                    "api_key", "key_svc", "svc", "service", "usage", "default-tenant", "", "success",
                                    "", f"req-{i}", "10.0.0.1", "t", '{"n":1}', SCHEMA_VERSION, "", "")
                        for i in range(EVENTS)], batch=4000)
    await store.close()
    return tmp_path


def run(workdir: Path, database_url: str, *argv: str, terminal: bool) -> tuple[int, str]:
    """Run ``tenant-exporter argv`` with stderr on a pseudo-terminal (or a pipe); what stderr received."""
    env = {**os.environ, "DATABASE_URL": database_url, "CONFIG_DIR": str(workdir / "config")}
    command = [sys.executable, "-m", "exporter", *argv]
    if not terminal:
        done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # EIO: the command closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return proc.wait(120), out.decode()


COMMANDS = {
    "audit export": (["audit", "export", "--tenant", "default-tenant", "--output", "out.jsonl"],
                     "exporting: 5,000 events", f"exported {EVENTS + 2} event(s) to out.jsonl"),  # and 2 exports
    "audit verify": (["audit", "verify", "--tenant", "default-tenant"],
                     f"verifying: 5,000 of {EVENTS:,} events (42%)", f"verified {EVENTS} event(s)"),
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_long_commands_show_progress_on_a_terminal_and_stay_quiet_when_piped(
    workdir: Path, database_url: str, command: str
) -> None:
    """On a terminal, the command draws its progress (events done, rate, time left) mid-way and ends with its
    summary; with stderr piped, stderr holds the summary alone."""
    argv, progress, summary = COMMANDS[command]
    code, on_terminal = run(workdir, database_url, *argv, terminal=True)
    piped_code, piped = run(workdir, database_url, *argv, terminal=False)
    drawn = on_terminal.split("\r\x1b[K")[1] if "\r\x1b[K" in on_terminal else ""
    assert (0, True, True, True) == (code, drawn.startswith(progress), "/s, " in drawn, " left" in drawn)
    assert (0, [summary]) == (piped_code, [line.split(" in ")[0] for line in piped.splitlines()]), piped
