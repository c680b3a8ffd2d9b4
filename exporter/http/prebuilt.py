"""Answers whose bytes are ready before the request comes: the status line, the fixed headers and
the body are encoded once (``BodyCache``, ``http/json.py``); per request only the ``Date``, a
``Connection`` header where HTTP needs one and a few extra header lines (the RateLimit fields, the
request id) are added, and the whole answer goes out in one write.

aiohttp's ``web.Response`` builds a header multidict on every request, then checks and serialises
every header in it: for the tenant API's cached answers that was about 60,000 of the 270,000
instructions a request took (``bench/instructions.py``, docs/performance.md). To aiohttp a
``Prebuilt`` is a ``StreamResponse`` like any other: it is prepared and written through the request's
writer (so flow control holds), follows the connection's keep-alive rules as aiohttp does, answers
HEAD with the headers only, and sends ``on_response_prepare``. ``add_header`` checks names and values
for CR and LF, as aiohttp checks its own; ``add_lines`` takes lines the service makes itself from
numbers and checked ids (the RateLimit fields, the request id) as they are. ``headers`` still works
for code that needs the multidict (CORS), at the multidict's price.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import SERVER_SOFTWARE, HttpVersion10, HttpVersion11
from multidict import CIMultiDict

_KEEP_ALIVE_10: Final = b"Connection: keep-alive\r\n"
_CLOSE_11: Final = b"Connection: close\r\n"
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Ready:
    """One answer's status line, fixed headers and body, encoded: what a ``Prebuilt`` sends."""

    __slots__ = ("body", "content_type", "head")

    def __init__(self, body: bytes, *, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                     f"Server: {SERVER_SOFTWARE}\r\n").encode()


class Prebuilt(web.StreamResponse):
    """A 200 answer with ``ready``'s bytes; ``add_header`` and ``add_headers`` put lines on it before it is prepared."""

    def __init__(self, ready: Ready) -> None:
        # what StreamResponse.__init__() sets with its defaults, without its calls: a test checks both set
        # the same attributes; the header multidict stays empty unless used
        self._state: dict[Any, Any] = {}
        self._headers = CIMultiDict()
        self._status = 200
        self._reason = "OK"
        self._ready = ready
        self._lines: list[str] = []

    @property
    def body(self) -> bytes:
        return self._ready.body

    @property
    def content_type(self) -> str:
        return self._ready.content_type

    @content_type.setter
    def content_type(self, value: str) -> None:
        raise AttributeError("a prebuilt answer's content type is encoded with it")

    @property
    def charset(self) -> str | None:
        return None

    @charset.setter
    def charset(self, value: str | None) -> None:
        raise AttributeError("a prebuilt answer's content type is encoded with it")

    @property
    def content_length(self) -> int:
        return len(self._ready.body)

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        raise AttributeError("a prebuilt answer's length is its body's")

    def add_header(self, name: str, value: str) -> None:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r}: CR, LF or ':' where they cannot be")
        self._lines.append(f"{name}: {value}\r\n")

    def add_headers(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            self.add_header(name, value)

    def add_lines(self, lines: str) -> None:
        """Header lines as they go on the wire, each ``Name: value\\r\\n``, made by the caller from
        values that cannot hold CR or LF (numbers, checked ids): unlike ``add_header``, nothing is checked."""
        self._lines.append(lines)

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is not None:
            return self._payload_writer
        self._req = request
        if isinstance(request, web.Request) and request.app.on_response_prepare:
            await request.app.on_response_prepare.send(request, self)
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = self._keep_alive = request.keep_alive
        if keep_alive:
            connection = _KEEP_ALIVE_10 if request.version == HttpVersion10 else b""
        else:
            connection = _CLOSE_11 if request.version == HttpVersion11 else b""
        if self._headers:  # set through ``headers`` (CORS, on_response_prepare)
            self.add_headers(self._headers)
        ready = self._ready
        body = b"" if request.method == "HEAD" else ready.body
        writer = self._payload_writer = request.writer
        self._eof_sent = True
        self._body_length = len(body)
        await writer.write_eof(b"".join((ready.head, _date(), connection, "".join(self._lines).encode(), b"\r\n",
                                         body)))
        return writer

    async def write_eof(self, data: bytes = b"") -> None:
        if data:
            raise RuntimeError("a prebuilt answer is sent whole")


_date_second = -1
_date_line = b""


def _date() -> bytes:
    """The ``Date`` header line (RFC 9110 IMF-fixdate), made once a second."""
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        year, month, day, hh, mm, ss, weekday, *_ = time.gmtime(now)
        _date_line = (f"Date: {_WEEKDAYS[weekday]}, {day:02d} {_MONTHS[month]} {year:04d} "
                      f"{hh:02d}:{mm:02d}:{ss:02d} GMT\r\n").encode()
        _date_second = now
    return _date_line
