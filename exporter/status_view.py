"""``current_status(app)``: the one function the status page, the badges and
``GET /api/monitoring/status`` read the service status through.

This is the ``stack`` branch's implementation, built from what exists here: the ``api``
self-probe (``probes.py``) and the in-process alerts (``alerting.py``). It has no history, so
every ``uptime_days`` entry and ``uptime_month_to_date`` are null (no data), never an invented
100 %. When the ``sla`` branch lands, its persisted probe results and SLA accounting produce the
same ``StatusSummary`` (the issue 6 contract); point this function at that implementation and
nothing else changes.

Component status, worst first: the last probe failed -> ``major_outage``; an error (or critical)
alert fires -> ``partial_outage``; a warning fires -> ``degraded_performance``; else
``operational``. Each firing alert is an incident (``identified`` once acknowledged, else
``investigating``; its id is the alert's id and the episode's start) with impact
critical/major/minor for critical/error/warning.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from aiohttp import web

from exporter import keys
from exporter.alerts import Alert, AlertState
from exporter.clock import isoformat
from exporter.status_models import (
    UPTIME_DAYS,
    Component,
    ComponentStatus,
    Impact,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Page,
    StatusSummary,
    UptimeDay,
    overall,
)
from exporter.store import AckRecord

PAGE_ID: Final = "tenant-exporter"
DEFAULT_SLA_TARGET: Final = 99.9
_IMPACT: Final[dict[str, Impact]] = {"critical": "critical", "error": "major", "warning": "minor"}
_API = ("api", "API", "The tenant and monitoring API (a probe of /-/ready on the service's own listener).")


def uptime_days(now: float, values: dict[str, float | None] | None = None) -> list[UptimeDay]:
    """90 UTC days ending today, oldest first; a day not in ``values`` has no data."""
    today = datetime.fromtimestamp(now, UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(UPTIME_DAYS - 1, -1, -1)]
    return [UptimeDay(day, (values or {}).get(day)) for day in days]


def component_status(probe_ok: bool | None, firing: list[Alert]) -> ComponentStatus:
    severities = {a.rule.severity for a in firing}
    if probe_ok is False:
        return "major_outage"
    if severities & {"critical", "error"}:
        return "partial_outage"
    if "warning" in severities:
        return "degraded_performance"
    return "operational"


def current_status(app: web.Application) -> StatusSummary:
    """The status of every service now, in the contract's Statuspage shape."""
    now = app[keys.CLOCK].now()
    stamp = isoformat(now)
    engine = app.get(keys.ALERTING)
    firing = [a for a in engine.alerts() if a.state is AlertState.FIRING] if engine is not None else []
    probe = app[keys.PROBE_RESULTS].latest.get("api")
    service_id, name, description = _API
    mine = [a for a in firing if a.labels.get("service", service_id) == service_id]
    status = component_status(None if probe is None else probe.success, mine)
    component = Component(
        id=service_id, name=name, status=status, created_at=stamp, updated_at=stamp, position=1,
        description=description, showcase=True, start_date=None, group_id=None, page_id=PAGE_ID, group=False,
        only_show_if_degraded=False, uptime_days=uptime_days(now), uptime_month_to_date=None,
        sla_target=DEFAULT_SLA_TARGET,
    )
    affected = [IncidentComponent(service_id, name, status)]
    incidents = [_incident(a, affected, engine.acknowledgement(a), stamp) for a in firing] if engine else []
    page = Page(PAGE_ID, PAGE_ID, app[keys.SETTINGS].public_url, "Etc/UTC", stamp)
    return StatusSummary(page, overall([component]), [component], incidents, [])


def _incident(alert: Alert, affected: list[IncidentComponent], ack: AckRecord | None, stamp: str) -> Incident:
    rule = alert.rule
    started = isoformat((alert.fired_at_ms or alert.active_at_ms) / 1000)
    updates = [IncidentUpdate(f"{alert.id}-firing", "investigating", rule.description or rule.summary, started,
                              started)]
    if ack is not None:  # who acknowledged stays private: the page is public
        at = isoformat(ack.acknowledged_at)
        updates.insert(0, IncidentUpdate(f"{alert.id}-acknowledged", "identified",
                                         "Acknowledged: the on-call team is working on it.", at, at))
    return Incident(
        id=f"{alert.id}-{alert.active_at_ms}", name=rule.summary,
        status="investigating" if ack is None else "identified",
        impact=_IMPACT.get(rule.severity, "none"), created_at=started, updated_at=stamp, started_at=started,
        resolved_at=None, shortlink=None, components=affected, incident_updates=updates,
    )
