"""Driving the status page in Chromium: what a rendered page shows (``RENDERED``), waiting for a status,
screenshots' colours, the names assistive technology reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.support.chromium import Page
from tests.support.helpers import ROOT
from tests.support.png import decode

ARTIFACTS = ROOT / "tests" / "artifacts"
RENDERED = """(() => ({
  title: document.title,
  overall: document.getElementById("overall-text").textContent,
  indicator: document.getElementById("overall").dataset.indicator,
  updated: document.getElementById("updated-at").getAttribute("datetime"),
  components: [...document.querySelectorAll("#components > li")].map((c) => {
    const chart = c.querySelector("svg.bars");
    return {
      id: c.dataset.component,
      name: c.querySelector("h3").textContent,
      status: c.querySelector(".component-status").textContent,
      role: chart.getAttribute("role"),
      label: document.getElementById(chart.getAttribute("aria-labelledby")).textContent,
      bars: [...chart.querySelectorAll("rect")].map((r) => r.getAttribute("class")),
      first: chart.querySelector("rect title").textContent,
      month: c.querySelector(".uptime-figures").textContent,
    };
  }),
  incidents: [...document.querySelectorAll("#incidents article h3")].map((h) => h.textContent),
  empty: document.querySelector("#incidents .no-incidents")?.textContent ?? null,
  overflows: document.documentElement.scrollWidth > window.innerWidth,
}))()"""


async def fetch_status(url: str, until: Callable[[dict[str, Any]], bool], deadline: float = 30.0) -> dict[str, Any]:
    """GET /api/monitoring/status until ``until`` holds for the answer."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(deadline):
        while True:
            async with http.get(f"{url}/api/monitoring/status") as r:
                summary: dict[str, Any] = await r.json()
            if until(summary):
                return summary
            await asyncio.sleep(0.2)


async def render(page: Page, url: str, **viewport: Any) -> dict[str, Any]:
    await page.open(f"{url}/status", **viewport)
    await page.wait_until("document.body.dataset.state === 'ready'")
    return dict(await page.evaluate(RENDERED))


async def accessible_images(page: Page) -> list[str]:
    """The names assistive technology gets for the page's images (Chromium's accessibility tree)."""
    tree = await page.send("Accessibility.getFullAXTree")
    return [node.get("name", {}).get("value", "") for node in tree["nodes"]
            if not node.get("ignored") and node.get("role", {}).get("value") in ("image", "img")]


def colour_at(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    return decode(png).pixel(x, y)


async def bar_colours(page: Page, selector: str, indexes: list[int]) -> list[tuple[int, int, int]]:
    """The colour in the middle of each of these bars, read from a screenshot of the chart."""
    png = decode(await page.screenshot(selector=selector))
    step = png.width / 90
    return [png.pixel(int(i * step + step * 3 / 8), png.height // 2) for i in indexes]
