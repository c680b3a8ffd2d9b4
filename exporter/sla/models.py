"""Bodies of ``GET /api/monitoring/sla`` and ``GET /api/monitoring/status``.

``SlaOut`` keeps the seed's fields (``services`` {name: {uptime, sla_target, compliant}},
``overall_uptime``, ``month_to_date_compliance``, ``breaches_this_month``) and adds the rest.
``StatusOut`` is the Atlassian Statuspage v2 ``summary.json`` shape (the issue 6 contract), plus
``uptime_days``, ``uptime_month_to_date`` and ``sla_target`` on each component. Percentages are
0..100 with four decimals; ``null`` means no data, never a made-up 100 %.
"""

from __future__ import annotations

import msgspec


class BreachOut(msgspec.Struct):
    id: str
    started_at: str
    ended_at: str | None  # null while ongoing
    duration_minutes: float  # so far, while ongoing
    ongoing: bool
    failed_probes: int
    detail: str  # what the first failed probe saw
    cause: str  # probes (a run of failed probes) | unobserved (no replica was running)


class ServiceSlaOut(msgspec.Struct):
    uptime: float | None  # %, this calendar month (UTC) so far; time-weighted
    sla_target: float  # %
    compliant: bool | None  # uptime >= sla_target (exactly); null without data
    error_budget_remaining_minutes: float  # (1 - target) x month length - downtime; negative once overspent
    error_budget_minutes: float  # (1 - target) x the whole month's length
    error_budget_remaining: float  # share of the budget left (negative once overspent)
    burn_rate: float  # downtime share of the counted period / (1 - target); 0 without data
    downtime_minutes: float
    degraded_minutes: float | None  # slow but up (not downtime); null from Prometheus
    observed_minutes: float  # time covered by probe results
    unobserved_minutes: float  # since monitoring began, time no replica observed (counted as downtime under `down`)
    coverage: float | None  # %, the observed share of the month since monitoring began; null before it began
    unobserved_policy: str  # down (unobserved time is downtime) | exclude (left out of uptime)
    budgeting_method: str  # Timeslices: each probe interval is one slice, good or bad (OpenSLO's term)
    breaches_this_month: int
    breaches: list[BreachOut] | None  # with ?details=true (from the service's records); null otherwise


class SloFiguresOut(msgspec.Struct):
    valid_requests: int
    bad_requests: int  # 5xx, or slower than the threshold
    attainment: float | None  # %, good / valid this month; null without traffic (never NaN)
    compliant: bool | None  # attainment >= objective (exactly); null without traffic
    error_budget_requests: float  # (1 - objective) x valid requests
    error_budget_used_requests: int  # = bad_requests
    error_budget_remaining_requests: float  # negative once overspent
    error_budget_remaining: float  # share of the budget left: 1 - burn_rate (1 without traffic)
    burn_rate: float  # (bad / valid) / (1 - objective) this month; 1 spends the budget exactly; 0 without traffic


class SloOut(msgspec.Struct):
    service: str  # api: the requests are this service's own
    slo: str
    sli: str  # requests (good = not 5xx) | latency (good = within threshold_ms)
    description: str
    objective: float  # %
    threshold_ms: float | None  # latency SLOs: a bound of the duration histogram
    budgeting_method: str  # Occurrences: the budget is a share of the month's valid requests
    month_to_date: SloFiguresOut
    tenants: dict[str, SloFiguresOut] | None  # per-tenant SLOs: each tenant's own figures; null otherwise


class SlaOut(msgspec.Struct):
    services: dict[str, ServiceSlaOut]
    overall_uptime: float | None  # % of all services' observed time that was up
    month_to_date_compliance: bool | None  # every service with data is compliant
    breaches_this_month: int
    month: str  # 2026-11
    period_start: str
    period_end: str  # exclusive: the first instant of the next month
    source: str  # service | prometheus
    timestamp: str
    slos: dict[str, SloOut]  # the request and latency SLOs of monitoring.yml `slos`, by Sloth id (api-requests)


class Page(msgspec.Struct):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: str


class Indicator(msgspec.Struct):
    indicator: str  # none | minor | major | critical
    description: str


class UptimeDay(msgspec.Struct):
    date: str
    uptime: float | None  # %; null for a day without data
    downtime_minutes: float  # as the service's policy counts it (unobserved time included under `down`)
    unobserved_minutes: float  # no replica observed the service (it was not running)


class Component(msgspec.Struct):
    id: str
    name: str
    status: str  # operational | under_maintenance | degraded_performance | partial_outage | major_outage
    created_at: str
    updated_at: str
    position: int
    description: str
    showcase: bool
    start_date: str | None
    group_id: None
    page_id: str
    group: bool
    only_show_if_degraded: bool
    uptime_days: list[UptimeDay]  # 90 days, oldest first
    uptime_month_to_date: float | None
    sla_target: float


class ComponentRef(msgspec.Struct):
    id: str
    name: str
    status: str


class IncidentUpdate(msgspec.Struct):
    id: str
    status: str
    body: str
    created_at: str
    display_at: str


class Incident(msgspec.Struct):
    id: str
    name: str
    status: str  # investigating | identified | resolved
    impact: str  # major (partial outage) | critical (major outage)
    created_at: str
    updated_at: str
    started_at: str
    resolved_at: str | None
    shortlink: None
    components: list[ComponentRef]
    incident_updates: list[IncidentUpdate]
    page_id: str
    monitoring_at: None


class Maintenance(msgspec.Struct):
    """A scheduled maintenance window in Statuspage's shape (``impact`` is always ``maintenance``)."""

    id: str
    name: str
    status: str  # scheduled | in_progress | completed
    impact: str
    created_at: str
    updated_at: str
    started_at: str
    scheduled_for: str
    scheduled_until: str
    resolved_at: str | None
    shortlink: None
    components: list[ComponentRef]
    incident_updates: list[IncidentUpdate]
    page_id: str
    monitoring_at: None


class StatusOut(msgspec.Struct):
    page: Page
    status: Indicator  # none | minor | major | critical | maintenance: the worst component
    components: list[Component]
    incidents: list[Incident]  # open ones, then those resolved in the last 90 days; newest first
    scheduled_maintenances: list[Maintenance]  # upcoming and in progress
