"""Unobserved time as Prometheus saw it: scrapes with ``up == 0`` and missing samples, counted alike.

Prometheus scrapes every replica of the job each scrape interval ``S`` (read from its targets
API). The month so far is cut into steps of ``S``; a step is *observed* when at least one replica
answered a scrape in it (``max by (job) (max_over_time(up[S])) == 1``), so, as in the service's own
accounting, time is unobserved only when no replica was up. A failed scrape (``up == 0``: the
process is down) and no sample at all (Prometheus was down too) count the same. Monitoring began
at the month's start when the job has samples from the day before, else at its first successful
scrape. (A step looks back 5 % further than its length, so that a scrape a few milliseconds late is
not a missed step.) A *gap breach* is a return after at least ``breach_min_duration`` without a successful
scrape (its first scrape after the gap: up now, and no ``up == 1`` in the ``B`` before the last step).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from exporter.core.durations import parse_duration
from exporter.core.errors import BadGateway
from exporter.core.outbound import HttpClient, OutboundError

TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class UpCoverage:
    step_seconds: float
    observed_seconds: float  # steps with a successful scrape, times the step
    began: float | None  # when monitoring began within the range (its start when it began before)
    unobserved_seconds: float
    gap_breaches: int


def up_queries(job: str, range_seconds: int, step_seconds: int, breach_seconds: int) -> dict[str, str]:
    # a step looks back 5 % more than itself: a scrape a little late (timestamps are aligned only within
    # 2 ms, and a loaded machine scrapes later) still lands in a step, at worst in two, never in none
    look = step_seconds * 1050
    up = f'max by (job) (max_over_time(up{{job="{job}"}}[{look}ms]))'
    window = f"[{range_seconds}s:{step_seconds}s]"
    before = (f'max by (job) (max_over_time(up{{job="{job}"}}[{max(breach_seconds, step_seconds)}s] '
              f"offset {step_seconds}s)) == 1")
    return {
        "observed_steps": f"sum_over_time(({up}){window})",
        "first_up": f"min_over_time(timestamp(({up}) == 1){window})",
        "earlier": f'count(count_over_time(up{{job="{job}"}}[1d] offset {range_seconds}s))',
        "returns": f"count_over_time((({up}) == 1 unless on (job) ({before})){window})",
    }


async def get_json(client: HttpClient, url: str, params: dict[str, str]) -> Any:
    try:
        async with asyncio.timeout(TIMEOUT):
            answer = await client.request("GET", url, params=params)
        body: Any = answer.json()
    except (OutboundError, TimeoutError, ValueError) as e:
        raise BadGateway(f"Prometheus did not answer: {type(e).__name__}: {e}", slug="prometheus-unavailable") from e
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise BadGateway(f"Prometheus refused the query: {error}", slug="prometheus-unavailable")
    return body["data"]


async def scrape_interval(client: HttpClient, base_url: str, job: str) -> int:
    """The job's scrape interval in whole seconds (at least 1), from ``/api/v1/targets``."""
    data = await get_json(client, f"{base_url.rstrip('/')}/api/v1/targets", {"state": "active"})
    for target in data.get("activeTargets", []):
        if target.get("labels", {}).get("job") == job and target.get("scrapeInterval"):
            return max(1, parse_duration(str(target["scrapeInterval"])) // 1000)
    raise BadGateway(f"Prometheus has no active target of job {job!r}", slug="prometheus-unavailable")


async def _scalar(client: HttpClient, base_url: str, expr: str, at: float) -> float | None:
    data = await get_json(client, f"{base_url.rstrip('/')}/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
    result = data.get("result", [])
    return float(result[0]["value"][1]) if result else None


async def up_coverage(client: HttpClient, base_url: str, job: str, start: float, now: float,
                      breach_min_duration_ms: int) -> UpCoverage:
    """Observed and unobserved time of the job in ``[start, now]``, and its gap breaches."""
    step = await scrape_interval(client, base_url, job)
    range_seconds = max(step, int(now - start))
    exprs = up_queries(job, range_seconds, step, max(1, breach_min_duration_ms // 1000))
    values = {name: await _scalar(client, base_url, expr, now) for name, expr in exprs.items()}
    observed = (values["observed_steps"] or 0.0) * step
    earlier = bool(values["earlier"])
    first = values["first_up"]
    began = start if earlier else None if first is None else max(start, first - step)  # a step stands for the S before
    last_step = now // step * step  # subquery steps fall on multiples of the step: none covers (last_step, now]
    unobserved = 0.0 if began is None else max(0.0, (last_step - began) - observed)
    returns = int(values["returns"] or 0) - (0 if earlier or began is None else 1)  # the first start is no return
    return UpCoverage(step, observed, began, unobserved, max(0, returns))
