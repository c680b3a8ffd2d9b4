"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, with aiohttp's websocket.

``Chromium`` starts the browser on a free loopback debugging port with its own profile directory;
``Browser.page()`` attaches to its first tab. ``Page`` sends CDP commands, keeps every event, and
collects what counts as a console error: ``console.error``/``console.assert`` calls
(``Runtime.consoleAPICalled``), uncaught exceptions (``Runtime.exceptionThrown``) and
browser-side errors such as failed loads or CSP violations (``Log.entryAdded`` at level error).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.service_process import free_port, terminate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-breakpad", "--disable-crash-reporter", "--hide-scrollbars",
         "--mute-audio", "--remote-debugging-address=127.0.0.1"]


class CdpError(RuntimeError):
    """A DevTools command answered an error, or a page script threw."""


class Page:
    """One tab's DevTools session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._event_seen = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self.events.append(data)
                self._event_seen.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("the DevTools connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    async def wait_for_event(self, method: str, since: int = 0, deadline: float = 30.0) -> dict[str, Any]:
        """The first ``method`` event at index ``since`` or later."""
        async with asyncio.timeout(deadline):
            while True:
                for event in self.events[since:]:
                    if event.get("method") == method:
                        return event
                self._event_seen.clear()
                await self._event_seen.wait()

    async def evaluate(self, expression: str) -> Any:
        """Evaluate in the page (promises awaited); the JSON value, or CdpError if it throws."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_until(self, expression: str, deadline: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        async with asyncio.timeout(deadline):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)

    async def open(self, url: str, *, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        """Enable the domains that report errors, size the viewport, navigate, and wait for the load event."""
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=mobile)
        since = len(self.events)
        await self.send("Page.navigate", url=url)
        await self.wait_for_event("Page.loadEventFired", since)

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                     for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append("exception: " + str(details.get("exception", {}).get("description", details)))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        return errors

    async def screenshot(self, path: Path | None = None, *, full_page: bool = False,
                         selector: str | None = None) -> bytes:
        """A PNG of the viewport, the whole page, or one element's box; written to ``path`` when given."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = await self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size[0], "height": size[1],
                                                             "scale": 1})
        elif selector is not None:
            box = await self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                                      ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()")
            params.update(clip={"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1})
        result = await self.send("Page.captureScreenshot", **params)
        png = base64.b64decode(result["data"])
        if path is not None:
            await asyncio.to_thread(_write, path, png)
        return png

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class Chromium:
    """The browser process, on a free loopback debugging port with a profile under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.profile = workdir / f"chromium-{self.port}"
        self.log = workdir / f"chromium-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", f"--remote-debugging-port={self.port}",
                 "about:blank"], stdout=out, stderr=subprocess.STDOUT)
        return self

    @contextlib.asynccontextmanager
    async def page(self, deadline: float = 30.0) -> AsyncIterator[Page]:
        """A DevTools session on the browser's first tab."""
        async with aiohttp.ClientSession() as http:
            ws_url = await self._first_tab(http, deadline)
            async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                page = Page(ws)
                try:
                    yield page
                finally:
                    await page.close()

    async def _first_tab(self, http: aiohttp.ClientSession, deadline: float) -> str:
        async with asyncio.timeout(deadline):
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"chromium exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/json/list") as r:
                        tabs = [t for t in await r.json() if t.get("type") == "page"]
                        if tabs:
                            return str(tabs[0]["webSocketDebuggerUrl"])
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        terminate(self.proc)
