"""The status page's files and the uptime badges (the page drawn by a real browser: test_status_chromium.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from exporter.sla.badges import badge, percent
from tests.support.service import Service, ServiceFactory
from tests.support.sla_helpers import rounds, sla_config
from tests.support.tcp_endpoint import TcpEndpoint

SVG = "{http://www.w3.org/2000/svg}"


async def badge_of(service: Service, name: str) -> tuple[str, dict[str, str]]:
    """The badge's title and the fill of its message (right-hand) box (after the incidents' periodic sync)."""
    await service.services.incidents.sync()
    async with service.client.get(f"/status/badge/{name}.svg") as r:
        assert (200, "image/svg+xml") == (r.status, r.content_type)
        root = ET.fromstring(await r.text())  # noqa: S314 - our own answer
    rects = root.findall(f"{SVG}g/{SVG}rect")
    return root.findtext(f"{SVG}title") or "", {"label": rects[0].get("fill", ""), "message": rects[1].get("fill", "")}


async def test_the_badge_shows_month_to_date_uptime_coloured_by_status(
    make_service: ServiceFactory, cache: TcpEndpoint, tmp_path: Path,
) -> None:
    """A service's badge says its month-to-date uptime (no data before the first probe), green while
    operational, red during an ongoing outage; an unknown service is a 404 problem."""
    service = await make_service(config_dir=sla_config(tmp_path / "config", cache.port))
    assert ("Cache uptime this month: no data (operational)", {"label": "#555", "message": "#4c1"}) \
        == await badge_of(service, "cache")
    await rounds(service, cache, "++--")
    assert ("Cache uptime this month: 50% (major outage)", {"label": "#555", "message": "#e05d44"}) \
        == await badge_of(service, "cache")
    await rounds(service, cache, "+")
    assert ("Cache uptime this month: 60% (operational)", {"label": "#555", "message": "#4c1"}) \
        == await badge_of(service, "cache")
    async with service.client.get("/status/badge/billing.svg") as r:
        assert (404, "application/problem+json", "urn:tenant-exporter:problem:unknown-service") \
            == (r.status, r.content_type, (await r.json())["type"])


def test_badge_text_is_escaped_and_sized_to_fit() -> None:
    """Markup in a label stays text (the SVG parses and says it back), and a longer message makes a wider badge."""
    root = ET.fromstring(badge('<b>"db" & co</b>', "99.9%", "#4c1"))  # noqa: S314 - our own output
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert ('<b>"db" & co</b>: 99.9%', ['<b>"db" & co</b>'] * 2 + ["99.9%"] * 2) \
        == (root.findtext(f"{SVG}title"), texts)
    assert int(ET.fromstring(badge("api", "100%", "#4c1")).get("width", "0")) \
        < int(ET.fromstring(badge("api", "no data yet", "#4c1")).get("width", "0"))  # noqa: S314


@pytest.mark.parametrize(("value", "expected"), [(99.95, "99.95%"), (99.9, "99.9%"), (100.0, "100%"),
                                                 (99.999, "100%"), (0.0, "0%"), (None, "no data")],
                         ids=["two decimals", "trailing zero dropped", "whole", "rounds to two decimals", "zero",
                              "null is no data"])
def test_uptime_is_written_as_a_short_percentage(value: float | None, expected: str) -> None:
    """Badge and page write uptime with at most two decimals, and no data as "no data"."""
    assert expected == percent(value)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/status", "text/html"), ("/status/status.js", "text/javascript"), ("/status/status.css", "text/css"),
], ids=["the page", "its script", "its stylesheet"])
async def test_the_page_and_its_files_are_served_same_origin_and_revalidated(
    service: Service, path: str, content_type: str,
) -> None:
    """Each file answers with its type and an ETag; the same ETag back gets 304; the page forbids other origins."""
    async with service.client.get(path) as r:
        etag, policy = r.headers["ETag"], r.headers.get("Content-Security-Policy", "")
        assert (200, content_type, "utf-8", "no-cache") \
            == (r.status, r.content_type, r.charset, r.headers["Cache-Control"])
        text = await r.text()
    async with service.client.get(path, headers={"If-None-Match": etag}) as r:
        assert (304, b"") == (r.status, await r.read())
    if path == "/status":
        assert ("default-src 'none'" in policy, "script-src 'self'" in policy, "http" in text.split("<body")[1]) \
            == (True, True, False)  # no CDN, nothing outside this origin
