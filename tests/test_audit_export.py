"""Exports over real HTTP: streamed CSV and JSON Lines, formula defang, filters, a filename."""

from __future__ import annotations

import csv
import io
import json
import random
import re

from exporter.audit.events import Actor, Outcome, RequestContext, Target
from exporter.audit.export import EXPORT_BATCH, defanged, fast_isoformat
from exporter.core.clock import isoformat
from tests.support.audit_helpers import get_json, search, usage_draft, write
from tests.support.service import Service, ServiceFactory

EXPORT = "/api/audit-logs/export"


async def test_csv_export_defuses_formulas_and_names_a_file(service: Service) -> None:
    """CSV cells starting with = + - @ get a leading apostrophe; the download has a filename;
    quoting keeps commas and quotes inside one cell."""
    await write(service, usage_draft(
        "acme", 1, actor=Actor.api_key("key_x", "=HYPERLINK(\"http://evil\",\"click\")", "admin"),
        target=Target("report", "@SUM(A1:A9)", "-2+3"), outcome=Outcome.failure("+1 refused, \"quoted\""),
        context=RequestContext(request_id="r1", source_ip="10.0.0.1", user_agent="=cmd|' /C calc'!A0"),
    ))
    resp = await service.client.get(EXPORT, params={"format": "csv", "action": "usage"},
                                    headers=await service.headers("acme", "admin"))
    assert (200, "text/csv") == (resp.status, resp.content_type)
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-acme-20261118T') and disposition.endswith('.csv"')
    [row] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {
        "actor_name": "'=HYPERLINK(\"http://evil\",\"click\")", "target_id": "'@SUM(A1:A9)", "target_name": "'-2+3",
        "reason": "'+1 refused, \"quoted\"", "user_agent_untrusted": "'=cmd|' /C calc'!A0", "source_ip": "10.0.0.1",
        "action": "usage.report", "tenant_id": "acme", "seq": "1",
    }.items() <= row.items()


def test_defang_covers_every_formula_prefix() -> None:
    """= + - @ tab and CR are defused; ordinary text is left alone."""
    cells = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "plain", "{\"a\":1}", ""]
    assert ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "plain", "{\"a\":1}", ""] == defanged(cells)


async def test_jsonl_export_streams_every_match_in_the_api_shape(service: Service) -> None:
    """JSON Lines, oldest first, the same event objects as the list API, across several
    internal batches; filters apply as they do to search."""
    n = EXPORT_BATCH * 2 + 7
    await service.services.audit.flush()
    audit = service.services.audit
    for i in range(n):
        service.clock.advance(0.001)
        audit.submit(usage_draft("acme", i))
    await audit.flush()
    admin = await service.headers("acme", "admin")
    resp = await service.client.get(EXPORT, params={"action": "usage.report"},
                                    headers={**admin, "X-Request-ID": "export-1"})
    assert (200, "application/x-ndjson") == (resp.status, resp.content_type)
    assert ("chunked", "export-1") == (resp.headers.get("Transfer-Encoding"), resp.headers.get("X-Request-ID"))
    assert "RateLimit-Policy" in resp.headers
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert list(range(n)) == [e["details"]["values"]["cases_created"] for e in lines]
    newest = (await get_json(service, "/api/audit-logs/search", admin, action="usage.report", limit=1))[1]["data"][0]
    assert newest == next(e for e in lines if e["id"] == newest["id"])


async def test_the_export_itself_is_audited(service: Service) -> None:
    """Downloading the log leaves an audit_log.export event with the format and filters."""
    admin = await service.headers("acme", "admin")
    resp = await service.client.get(EXPORT, params={"format": "csv", "outcome": "failure"}, headers=admin)
    assert 200 == resp.status
    [event] = await search(service, admin, action="audit_log.export")
    assert {"format": "csv", "filters": {"outcome": "failure"}} == event["details"]


async def test_a_browser_frontend_may_read_the_export(make_service: ServiceFactory) -> None:
    """With CORS_ORIGINS set, the streamed export carries the CORS headers every answer has, and
    the browser may read its filename."""
    service = await make_service(cors_origins=("https://app.example.com",))
    headers = {**await service.headers("acme", "admin"), "Origin": "https://app.example.com"}
    resp = await service.client.get(EXPORT, params={"format": "csv"}, headers=headers)
    assert (200, "https://app.example.com") == (resp.status, resp.headers.get("Access-Control-Allow-Origin"))
    assert "Content-Disposition" in resp.headers["Access-Control-Expose-Headers"].split(", ")


def test_export_filename_is_safe_for_a_header() -> None:
    """A tenant name with control characters or quotes cannot reach the Content-Disposition header."""
    from exporter.audit.export import filename

    name = filename(("evil\x1f\"\r\nX-Injected: 1",), "csv", 1_795_000_000.0)
    assert re.fullmatch(r"audit-[A-Za-z0-9._-]+-\d{8}T\d{6}Z\.csv", name), name


def test_export_times_read_exactly_as_the_api_writes_them() -> None:
    """The export's fast time formatting writes, for any time, the very text the API's ``isoformat`` does,
    including the rounding at a millisecond's and a day's edge."""
    rng = random.Random(17)
    times = [rng.uniform(0, 4e9) for _ in range(20_000)] + [round(rng.uniform(1.7e9, 1.8e9), 6) for _ in range(20_000)]
    times += [0.0, 1.9999995, 86_399.9999996, 1_795_000_000.0005, 1_795_000_000.9994999, 1_795_000_000.9995]
    assert [isoformat(t) for t in times] == [fast_isoformat(t) for t in times]
