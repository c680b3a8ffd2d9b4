"""What the public status page says: each component's status, the overall indicator, incidents, maintenance.

The banner, the components and the open incidents always agree, because outages come only from
incidents (``incidents.py``): a component is in an outage exactly while an open incident names it.

===========================  =========================================================
``major_outage``             an open incident of impact ``critical`` (a breach) names it
``partial_outage``           an open incident of impact ``major`` (a firing error alert)
``under_maintenance``        a maintenance window is in progress, and no incident is open
``degraded_performance``     its latest probe failed, not (yet) past its threshold, or succeeded
                             slower than ``degraded_above``; or an alert about it fires that has
                             no incident (a warning, or an error in its first interval)
``operational``              otherwise (also before the first probe: see ``last_checked_at``)
===========================  =========================================================

The worst component sets the indicator: major_outage -> ``critical``, partial_outage -> ``major``,
degraded_performance -> ``minor``, under_maintenance -> ``maintenance``, all operational ->
``none``. ``status_body`` assembles it all in the shape of Atlassian Statuspage's v2
``summary.json``, which ``/api/monitoring/status``, the page and the badges show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from exporter.core.clock import Month, isoformat
from exporter.monitoring.alerts import Alert, AlertState
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.fleet import ProbeOutcome
from exporter.monitoring.maintenance import MaintenanceWindow
from exporter.monitoring.services import ServiceConfig
from exporter.sla import models as m
from exporter.sla.incidents import Incident
from exporter.sla.report import pct
from exporter.sla.sources import ALERTS_ABOUT
from exporter.sla.tracker import SlaSnapshot

STATUSES: Final = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
INDICATORS: Final = {
    "operational": ("none", "All Systems Operational"),
    "under_maintenance": ("maintenance", "Service Under Maintenance"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major Service Outage"),
}
BY_IMPACT: Final = {"critical": "major_outage", "major": "partial_outage", "minor": "degraded_performance"}
PHASES: Final = ("investigating", "identified", "monitoring", "resolved")  # orders updates made at one instant
PAGE_ID = "tenant-exporter"


@dataclass(frozen=True, slots=True)
class ComponentState:
    service: ServiceConfig
    status: str
    reason: str
    last_checked_at: float | None


def component_state(service: ServiceConfig, latest: ProbeOutcome | None, alerts: Sequence[Alert],
                    incidents: Sequence[Incident], window: MaintenanceWindow | None) -> ComponentState:
    """The status of one service, with the reason for it (the worst of what applies)."""
    checked = latest.at if latest else None
    mine = [i for i in incidents if i.open and service.name in i.components]
    if mine:
        worst = max(mine, key=lambda i: STATUSES.index(BY_IMPACT.get(i.row.impact, "major_outage")))
        return ComponentState(service, BY_IMPACT.get(worst.row.impact, "major_outage"), f"incident: {worst.row.name}",
                              checked)
    if window is not None:
        return ComponentState(service, "under_maintenance", f"maintenance: {window.name}", checked)
    found: list[tuple[str, str]] = [("operational", "probes succeed" if latest else "not probed yet")]
    if latest is not None and not latest.success:
        found.append(("degraded_performance", f"the latest probe failed ({latest.detail})"))
    elif latest is not None and latest.degraded:
        found.append(("degraded_performance", f"the latest probe took {latest.duration_seconds * 1000:.0f} ms"))
    for alert in alerts:
        if alert.state is AlertState.FIRING and alert.labels.get("service", ALERTS_ABOUT) == service.name:
            found.append(("degraded_performance", f"alert {alert.rule.name}: {alert.rule.summary}"))
    status, reason = max(found, key=lambda f: STATUSES.index(f[0]))
    return ComponentState(service, status, reason, checked)


def indicator(states: Sequence[ComponentState]) -> tuple[str, str]:
    """``(indicator, description)`` of the worst component."""
    worst = max((s.status for s in states), key=STATUSES.index, default="operational")
    return INDICATORS[worst]


def _phase(status: str) -> int:
    return PHASES.index(status) if status in PHASES else len(PHASES)


def _incident(incident: Incident, refs: dict[str, m.ComponentRef]) -> m.Incident:
    row = incident.row
    updates = [m.IncidentUpdate(u.id, u.status, u.body, isoformat(u.at), isoformat(u.at))
               for u in sorted(incident.updates, key=lambda u: (-u.at, -_phase(u.status), u.id))]
    return m.Incident(
        id=row.id, name=row.name, status=row.status, impact=row.impact, created_at=isoformat(row.started_at),
        updated_at=isoformat(row.updated_at), started_at=isoformat(row.started_at),
        resolved_at=None if row.resolved_at is None else isoformat(row.resolved_at), shortlink=None,
        components=[refs[c] for c in incident.components if c in refs], incident_updates=updates, page_id=PAGE_ID,
        monitoring_at=None)


def _maintenance(window: MaintenanceWindow, refs: dict[str, m.ComponentRef], now: float) -> m.Maintenance:
    status = window.status(now)
    start, end = isoformat(window.starts_at), isoformat(window.ends_at)
    body = window.description or f"Scheduled maintenance of {', '.join(r.name for r in refs.values())}."
    update = m.IncidentUpdate(f"{window.id}-1", "scheduled", body, start, start)
    return m.Maintenance(
        id=window.id, name=window.name, status=status, impact="maintenance", created_at=start, updated_at=start,
        started_at=start, scheduled_for=start, scheduled_until=end,
        resolved_at=end if status == "completed" else None, shortlink=None,
        components=[refs[s] for s in window.services if s in refs], incident_updates=[update], page_id=PAGE_ID,
        monitoring_at=None)


def status_body(snapshot: SlaSnapshot, alerts: Sequence[Alert], monitoring: MonitoringConfig, base_url: str | None,
                incidents: Sequence[Incident], windows: Sequence[MaintenanceWindow],
                probes: Mapping[str, ProbeOutcome] | None = None) -> m.StatusOut:
    """The page; the components' latest probes are ``probes`` (the evaluating replica's), else the tracker's."""
    now = snapshot.at
    latest = snapshot.latest if probes is None else probes
    in_progress = {s.name: next((w for w in windows if w.covers(s.name, now)), None) for s in monitoring.services}
    states = [component_state(s, latest.get(s.name), alerts, incidents, in_progress[s.name])
              for s in monitoring.services]
    figures = {f.service: f for f in snapshot.services}
    components = []
    for position, state in enumerate(states, start=1):
        service, first = state.service, snapshot.first_day.get(state.service.name)
        created = isoformat(Month.of(now).start) if first is None else f"{first}T00:00:00.000Z"
        sla = figures.get(service.name)
        components.append(m.Component(
            id=service.name, name=service.title, status=state.status, created_at=created,
            updated_at=isoformat(state.last_checked_at) if state.last_checked_at else created, position=position,
            description=service.description, showcase=True, start_date=first, group_id=None, page_id=PAGE_ID,
            group=False, only_show_if_degraded=False,
            uptime_days=[m.UptimeDay(day, pct(p.uptime(service.unobserved)),
                                     round(float(p.counted(service.unobserved)[1]) / 60_000, 3),
                                     round(float(p.unobserved) / 60_000, 3))
                         for day, p in snapshot.history.get(service.name, ())],
            uptime_month_to_date=pct(sla.uptime) if sla else None, sla_target=service.target.percent,
        ))
    refs = {c.id: m.ComponentRef(c.id, c.name, c.status) for c in components}
    shown = sorted(incidents, key=lambda i: (not i.open, -i.row.started_at, i.row.id))
    upcoming = [w for w in windows if w.status(now) != "completed"]
    level, description = indicator(states)
    url = f"{base_url.rstrip('/')}/status" if base_url else "/status"
    return m.StatusOut(m.Page(PAGE_ID, PAGE_ID, url, "Etc/UTC", isoformat(now)), m.Indicator(level, description),
                       components, [_incident(i, refs) for i in shown],
                       [_maintenance(w, {s: refs[s] for s in w.services if s in refs}, now) for w in upcoming])
