"""Progress of long command-line work on a terminal: done, rate, time left; nothing when not a terminal.

    progress = Progress("exporting", unit="events", total=9_000_000)
    for chunk in ...:
        progress.update(done)             # rewrites one line on stderr, at most every REDRAW_SECONDS
    progress.done()                       # clears it, so the command's own summary follows cleanly

Only a terminal sees it: when stderr is a pipe or a file (CI logs, cron, ``2>log``), nothing is
written, so logs hold the command's results and not hundreds of redraws. ``fraction`` stands in
for ``done / total`` where the total is not known but the position is (an export's time position).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Final, TextIO

REDRAW_SECONDS: Final = 0.2
_CLEAR_LINE: Final = "\r\x1b[K"


def duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    def __init__(self, what: str, *, unit: str = "events", total: int | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._unit = unit
        self._total = total
        self._stream = stream if stream is not None else sys.stderr
        self.shown = _is_terminal(self._stream)
        self._clock = clock
        self._started = clock()
        self._drawn_at = float("-inf")
        self._drawn = False

    def update(self, done: int, *, fraction: float | None = None) -> None:
        """``done`` so far; ``fraction`` (0..1) of the work, when it is known better than ``done / total``."""
        if not self.shown:
            return
        now = self._clock()
        if now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        self._stream.write(_CLEAR_LINE + self.line(done, now - self._started, fraction))
        self._stream.flush()
        self._drawn = True

    def line(self, done: int, elapsed: float, fraction: float | None = None) -> str:
        if fraction is None and self._total:
            fraction = min(1.0, done / self._total)
        of = f" of {self._total:,}" if self._total is not None else ""
        text = f"{self._what}: {done:,}{of} {self._unit}"
        if fraction is not None:
            text += f" ({fraction:.0%})"
        if elapsed > 0:
            text += f", {done / elapsed:,.0f}/s"
        if fraction and elapsed > 0 and fraction < 1:
            text += f", {duration(elapsed * (1 - fraction) / fraction)} left"
        return text

    def done(self) -> None:
        """Clear the line (the command prints its summary next)."""
        if self._drawn:
            self._stream.write(_CLEAR_LINE)
            self._stream.flush()
            self._drawn = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False
