"""What the public status page says: each component's status, the overall indicator, the incidents.

The mapping (docs/alerting.md, "Status page"), from the latest probe of each service, its
breaches, and the in-process alerts that are firing (they are about the API: this process):

===========================  =========================================================
``major_outage``             the latest probe failed and a breach is ongoing
``partial_outage``           the latest probe failed, not (yet) long enough for a breach;
                             or, for ``api``, an ``error`` alert fires (e.g. 5xx > 5 %)
``degraded_performance``     the latest probe succeeded but slower than ``degraded_above``;
                             or, for ``api``, a ``warning`` alert fires (e.g. p95 > 500 ms)
``operational``              otherwise (also before the first probe: see ``last_checked_at``)
===========================  =========================================================

The worst component sets the indicator: major_outage -> ``critical``, partial_outage ->
``major``, degraded_performance -> ``minor``, all operational -> ``none``. An incident is a
breach: ``investigating`` while ongoing (impact ``critical``), ``resolved`` once probes succeed
again; resolved ones stay listed for 24 hours. ``status_body`` assembles it all in the shape of
Atlassian Statuspage's v2 ``summary.json``, which ``/api/monitoring/status``, the page and the badges show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from exporter.core.clock import Month, isoformat
from exporter.monitoring.alerts import Alert, AlertState
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.services import ServiceConfig
from exporter.sla import models as m
from exporter.sla.breaches import Breach
from exporter.sla.probes import ProbeResult
from exporter.sla.report import pct
from exporter.sla.tracker import SlaSnapshot

STATUSES: Final = ("operational", "degraded_performance", "partial_outage", "major_outage")
INDICATORS: Final = {
    "operational": ("none", "All Systems Operational"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major Service Outage"),
}
ALERTS_ABOUT: Final = "api"  # in-process alerts watch this process, i.e. the API (unless labelled otherwise)


@dataclass(frozen=True, slots=True)
class ComponentState:
    service: ServiceConfig
    status: str
    reason: str
    last_checked_at: float | None


def component_state(service: ServiceConfig, latest: ProbeResult | None, breaches: Sequence[Breach],
                    alerts: Sequence[Alert]) -> ComponentState:
    """The status of one service, with the reason for it (the worst of what applies)."""
    found: list[tuple[str, str]] = [("operational", "probes succeed" if latest else "not probed yet")]
    if latest is not None and not latest.success:
        if any(b.service == service.name and b.ongoing for b in breaches):
            found.append(("major_outage", f"outage: probes fail ({latest.detail})"))
        else:
            found.append(("partial_outage", f"the latest probe failed ({latest.detail})"))
    elif latest is not None and latest.degraded:
        found.append(("degraded_performance", f"the latest probe took {latest.duration_seconds * 1000:.0f} ms"))
    for alert in alerts:
        if alert.state is AlertState.FIRING and alert.labels.get("service", ALERTS_ABOUT) == service.name:
            status = "partial_outage" if alert.rule.severity == "error" else "degraded_performance"
            found.append((status, f"alert {alert.rule.name}: {alert.rule.summary}"))
    status, reason = max(found, key=lambda f: STATUSES.index(f[0]))
    return ComponentState(service, status, reason, latest.at if latest else None)


def indicator(states: Sequence[ComponentState]) -> tuple[str, str]:
    """``(indicator, description)`` of the worst component."""
    worst = max((s.status for s in states), key=STATUSES.index, default="operational")
    return INDICATORS[worst]


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    id: str
    status: str
    body: str
    at: float


@dataclass(frozen=True, slots=True)
class Incident:
    breach: Breach
    service: ServiceConfig
    status: str  # investigating | resolved
    impact: str
    updates: tuple[IncidentUpdate, ...]  # newest first

    @property
    def name(self) -> str:
        return f"{self.service.title} outage"


def incidents(breaches: Sequence[Breach], services: Sequence[ServiceConfig], now: float) -> list[Incident]:
    """Ongoing breaches and those resolved in the last 24 hours, newest first."""
    by_name = {s.name: s for s in services}
    out = []
    for b in breaches:
        service = by_name.get(b.service)
        if service is None or (b.ended_at is not None and b.ended_at < now - 86_400):
            continue
        first = IncidentUpdate(f"{b.id}-1", "investigating",
                               f"{service.title} is not answering its probes ({b.detail}).", b.started_at)
        updates: tuple[IncidentUpdate, ...] = (first,)
        if b.ended_at is not None:
            down = _duration(b.ended_at - b.started_at)
            resolved = IncidentUpdate(f"{b.id}-2", "resolved", f"{service.title} answers its probes again, after "
                                      f"{down} down ({b.failures} failed probes).", b.ended_at)
            updates = (resolved, first)
        out.append(Incident(b, service, "investigating" if b.ongoing else "resolved", "critical", updates))
    return sorted(out, key=lambda i: (-i.breach.started_at, i.breach.id))


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


PAGE_ID = "tenant-exporter"


def status_body(snapshot: SlaSnapshot, engine: AlertEngine, monitoring: MonitoringConfig, base_url: str | None,
                ) -> m.StatusOut:
    alerts = engine.alerts()
    states = [component_state(s, snapshot.latest.get(s.name), snapshot.breaches, alerts) for s in monitoring.services]
    figures = {f.service: f for f in snapshot.services}
    now = isoformat(snapshot.at)
    components = []
    for position, state in enumerate(states, start=1):
        service, first = state.service, snapshot.first_day.get(state.service.name)
        created = isoformat(Month.of(snapshot.at).start) if first is None else f"{first}T00:00:00.000Z"
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
    by_id = {c.id: c for c in components}
    out_incidents = []
    for incident in incidents(snapshot.breaches, monitoring.services, snapshot.at):
        b, component = incident.breach, by_id[incident.service.name]
        out_incidents.append(m.Incident(
            id=b.id, name=incident.name, status=incident.status, impact=incident.impact,
            created_at=isoformat(b.started_at), updated_at=isoformat(b.ended_at or b.last_failure_at),
            started_at=isoformat(b.started_at), resolved_at=None if b.ended_at is None else isoformat(b.ended_at),
            shortlink=None, components=[m.ComponentRef(component.id, component.name, component.status)],
            incident_updates=[m.IncidentUpdate(u.id, u.status, u.body, isoformat(u.at), isoformat(u.at))
                              for u in incident.updates],
            page_id=PAGE_ID, monitoring_at=None,
        ))
    level, description = indicator(states)
    url = f"{base_url.rstrip('/')}/status" if base_url else "/status"
    return m.StatusOut(m.Page(PAGE_ID, PAGE_ID, url, "Etc/UTC", now), m.Indicator(level, description), components,
                       out_incidents, [])
