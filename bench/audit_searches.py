"""The searches bench/audit_scale.py times: each kind of filter, with common, rare and absent values.

Values come from bench/audit_corpus.py's distribution (shares are of all events; ``bigco`` holds
90 %). ``scope`` is who asks: ``admin`` (bigco's admin: bigco's events), ``operator`` (every
tenant), ``small`` (an operator, ``tenant=t0042``: about 1,000 events).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.audit_corpus import OLD_WORD, RARE_NOTE

DAY = 86_400.0


@dataclass(frozen=True)
class Case:
    kind: str
    what: str
    scope: str
    params: dict[str, str]


def cases(end: float, one_key: str) -> list[Case]:
    """``one_key``: the target id of one api_key event (ids are unique: a search that finds one event)."""
    mid = end - 180 * DAY
    return [
        Case("none", "first page", "admin", {}),
        Case("actor", "service key, 28 % (by id)", "admin", {"actor": "key_bigco_svc00"}),
        Case("actor", "admin, 1 % (by name)", "admin", {"actor": "alice"}),
        Case("actor", "CLI user, 0.5 %", "admin", {"actor": "root"}),
        Case("actor", "name shared by every tenant", "small", {"actor": "svc-07"}),
        Case("actor", "no such actor", "admin", {"actor": "nobody"}),
        Case("actor", "admin, every tenant", "operator", {"actor": "alice"}),
        Case("action", "prefix api_key (2.5 %)", "admin", {"action": "api_key"}),
        Case("action", "prefix usage (70 %)", "admin", {"action": "usage"}),
        Case("action", "exact metric.custom.submit (25 %)", "admin", {"action": "metric.custom.submit"}),
        Case("action", "prefix alert, every tenant", "operator", {"action": "alert"}),
        Case("action", "no such action", "admin", {"action": "tenant.delete"}),
        Case("target", "one key (1 event)", "admin", {"target": one_key}),
        Case("target", "alert rule, 0.8 % (id and name)", "admin", {"target": "HighLatency"}),
        Case("target", "the tenant's usage, 70 %", "admin", {"target": "bigco"}),
        Case("outcome", "failure, 2 %", "admin", {"outcome": "failure"}),
        Case("outcome", "success, 98 %", "admin", {"outcome": "success"}),
        Case("outcome", "failure, every tenant", "operator", {"outcome": "failure"}),
        Case("outcome", "failure, small tenant", "small", {"outcome": "failure"}),
        Case("time", "one hour, 6 months ago", "admin", {"since": str(mid), "until": str(mid + 3600)}),
        Case("time", "one day, 6 months ago", "admin", {"since": str(mid), "until": str(mid + DAY)}),
        Case("time", "until a year ago (the oldest)", "admin", {"until": str(end - 364 * DAY)}),
        Case("time", "last 7 days", "admin", {"since": str(end - 7 * DAY)}),
        Case("text", "common: cases_created (70 %)", "admin", {"q": "cases_created"}),
        Case("text", "metric name (0.25 %)", "admin", {"q": "checkout_latency"}),
        Case("text", f"rare: {RARE_NOTE} (~100 events)", "admin", {"q": RARE_NOTE}),
        Case("text", f"old: {OLD_WORD} (oldest 1 % only)", "admin", {"q": OLD_WORD}),
        Case("text", "absent", "admin", {"q": "no-such-text"}),
        Case("text", "upper case: HIGHLATENCY", "admin", {"q": "HIGHLATENCY"}),
        Case("text", "rare, every tenant", "operator", {"q": RARE_NOTE}),
        Case("text", "common, small tenant", "small", {"q": "cases_created"}),
        Case("combined", "service key + failure", "admin", {"actor": "key_bigco_svc00", "outcome": "failure"}),
        Case("combined", "CLI user + action api_key", "admin", {"actor": "root", "action": "api_key"}),
        Case("combined", "service key + metric name", "admin", {"actor": "svc-03", "q": "checkout_latency"}),
        Case("combined", "failure + one day", "admin", {"outcome": "failure", "since": str(mid),
                                                        "until": str(mid + DAY)}),
        Case("combined", "rare text + action usage", "admin", {"q": RARE_NOTE, "action": "usage"}),
    ]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def time_case(http: aiohttp.ClientSession, case: Case, headers: dict[str, str], reps: int) -> dict[str, Any]:
    """``reps`` searches (after one untimed), and one next page by cursor (timed too)."""
    params = {**case.params, **({"tenant": "t0042"} if case.scope == "small" else {})}
    if case.scope == "admin":
        params.setdefault("tenant", "bigco")
    times: list[float] = []
    body: dict[str, Any] = {}
    for i in range(reps + 1):
        started = time.perf_counter()
        async with http.get("/api/audit-logs/search", params=params, headers=headers) as r:
            body = await r.json()
            assert r.status == 200, body
        if i:
            times.append(time.perf_counter() - started)
    rows = len(body["data"])
    if body.get("next_cursor"):
        started = time.perf_counter()
        async with http.get("/api/audit-logs/search", params={**params, "cursor": body["next_cursor"]},
                            headers=headers) as r:
            assert r.status == 200, await r.text()
            await r.read()
        times.append(time.perf_counter() - started)
    return {"kind": case.kind, "search": case.what, "scope": case.scope, "rows": rows,
            "p50_ms": round(statistics.median(times) * 1000, 1), "p99_ms": round(percentile(times, 99) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1)}
