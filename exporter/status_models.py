"""The public status summary, in the shape of Atlassian Statuspage v2 ``summary.json``.

Existing status widgets and exporters read that shape (``page``, ``status.indicator``,
``components[].status``, ``incidents``). The issue 6 contract adds three fields per component,
which Statuspage readers ignore: ``uptime_days`` (90 entries, oldest first, ``uptime`` in
percent or null for no data), ``uptime_month_to_date`` (percent or null) and ``sla_target``
(percent). The status page and the badges read only this structure.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

Indicator = Literal["none", "minor", "major", "critical"]
ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage",
                          "under_maintenance"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved", "postmortem"]
Impact = Literal["none", "minor", "major", "critical", "maintenance"]

UPTIME_DAYS: Final = 90
# the worst component status decides the page's indicator, as Statuspage words it
INDICATORS: Final[dict[str, tuple[Indicator, str]]] = {
    "operational": ("none", "All Systems Operational"),
    "under_maintenance": ("none", "All Systems Operational"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major Service Outage"),
}
SEVERITY_ORDER: Final = ("operational", "under_maintenance", "degraded_performance", "partial_outage",
                         "major_outage")


class Page(msgspec.Struct):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: str


class PageStatus(msgspec.Struct):
    indicator: Indicator
    description: str


class UptimeDay(msgspec.Struct):
    date: str  # YYYY-MM-DD (UTC)
    uptime: float | None  # percent; null: no data that day


class Component(msgspec.Struct):
    id: str
    name: str
    status: ComponentStatus
    created_at: str
    updated_at: str
    position: int
    description: str | None
    showcase: bool
    start_date: str | None
    group_id: str | None
    page_id: str
    group: bool
    only_show_if_degraded: bool
    uptime_days: list[UptimeDay]
    uptime_month_to_date: float | None
    sla_target: float


class IncidentComponent(msgspec.Struct):
    id: str
    name: str
    status: ComponentStatus


class IncidentUpdate(msgspec.Struct):
    id: str
    status: IncidentStatus
    body: str
    created_at: str
    display_at: str


class Incident(msgspec.Struct):
    id: str
    name: str
    status: IncidentStatus
    impact: Impact
    created_at: str
    updated_at: str
    started_at: str
    resolved_at: str | None
    shortlink: str | None
    components: list[IncidentComponent]
    incident_updates: list[IncidentUpdate]


class StatusSummary(msgspec.Struct):
    page: Page
    status: PageStatus
    components: list[Component]
    incidents: list[Incident]
    scheduled_maintenances: list[dict[str, str]]

    def component(self, component_id: str) -> Component | None:
        return next((c for c in self.components if c.id == component_id), None)


def overall(components: list[Component]) -> PageStatus:
    """The page's indicator: its worst component's, in Statuspage's words."""
    worst = max((c.status for c in components), key=SEVERITY_ORDER.index, default="operational")
    indicator, description = INDICATORS[worst]
    return PageStatus(indicator, description)
