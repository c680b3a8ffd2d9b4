"""``GET /api/monitoring/sla`` (any role) and ``GET /api/monitoring/status`` (public).

Both read the SLA tracker's in-memory snapshot (``sla_tracker.py``): no store query per request.
``/sla?source=prometheus`` asks Prometheus instead (``sla_prometheus.py``). The status body is
encoded once per snapshot and alert evaluation, then served as bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from aiohttp import web

from exporter.auth.keyring import requires
from exporter.core.clock import Month, isoformat
from exporter.core.errors import BadRequest, Conflict
from exporter.http import state as keys
from exporter.http.json import LatestBody, json_response
from exporter.http.openapi import operation, param
from exporter.http.routes import sla_models as m
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.engine import AlertEngine
from exporter.sla.accounting import ServiceSla, overall
from exporter.sla.from_prometheus import month_from_prometheus
from exporter.sla.status_page import component_state, incidents, indicator
from exporter.sla.tracker import SlaSnapshot

routes = web.RouteTableDef()
PAGE_ID = "tenant-exporter"


def pct(ratio: Fraction | None) -> float | None:
    return None if ratio is None else round(float(ratio) * 100, 4)


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 3)


def _flag(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0]).lower()
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}", slug="invalid-parameter")
    return value


def _service_out(sla: ServiceSla, details: bool, now: float) -> m.ServiceSlaOut:
    breaches = [m.BreachOut(b.id, isoformat(b.started_at), None if b.ended_at is None else isoformat(b.ended_at),
                            _minutes(b.duration_seconds(now)), b.ongoing, b.failures, b.detail)
                for b in sla.breach_list] if details else None
    return m.ServiceSlaOut(
        uptime=pct(sla.uptime), sla_target=sla.target.percent, compliant=sla.compliant,
        error_budget_remaining_minutes=_minutes(sla.budget_remaining_seconds),
        error_budget_minutes=_minutes(sla.budget_seconds), downtime_minutes=_minutes(sla.downtime_seconds),
        degraded_minutes=None if sla.degraded_seconds is None else _minutes(sla.degraded_seconds),
        observed_minutes=_minutes(sla.observed_seconds), breaches_this_month=sla.breaches, breaches=breaches,
    )


def sla_body(figures: Sequence[ServiceSla], overall: Fraction | None, month: Month, now: float, source: str,
             details: bool) -> m.SlaOut:
    with_data = [f.compliant for f in figures if f.compliant is not None]
    return m.SlaOut(
        services={f.service: _service_out(f, details, now) for f in figures},
        overall_uptime=pct(overall), month_to_date_compliance=all(with_data) if with_data else None,
        breaches_this_month=sum(f.breaches for f in figures), month=month.key,
        period_start=isoformat(month.start), period_end=isoformat(month.end), source=source,
        timestamp=isoformat(now),
    )


@routes.get("/api/monitoring/sla")
@requires()
@operation(m.SlaOut, errors=(400, 409, 502), query={
    "details": param("true: list each service's breaches (start, end, duration)", enum=["false", "true"]),
    "source": param("service (its own records, the default) or prometheus (the probe counters in Prometheus, "
                    "when PROMETHEUS_URL is set)", enum=["service", "prometheus"]),
})
async def get_sla(request: web.Request) -> web.Response:
    """SLA compliance for this calendar month (UTC) so far: uptime, target, error budget and breaches per service.

    Uptime is time-weighted: each probe result stands for its probe interval; degraded (slow but
    successful) time is up time. A breach is a run of failed probes of at least
    ``breach_min_failures`` results or ``breach_min_duration``. ``source=prometheus`` computes the
    same figures from the probe counters Prometheus scraped (409 when PROMETHEUS_URL is not set,
    502 when Prometheus fails); breach details come only from the service's own records (with
    ``source=prometheus`` each ``breaches`` is null).
    """
    details = _flag(request, "details", ("false", "true")) == "true"
    source = _flag(request, "source", ("service", "prometheus"))
    app = request.app
    if source == "service":
        snapshot = app[keys.SLA].snapshot()
        body = sla_body(snapshot.services, snapshot.overall_uptime, snapshot.month, snapshot.at, source, details)
        return json_response(body)
    url = app[keys.SETTINGS].prometheus_url
    if url is None:
        raise Conflict("this service has no PROMETHEUS_URL; ask for source=service", slug="prometheus-not-configured")
    monitoring: MonitoringConfig = app[keys.CONFIG].current.monitoring
    now = app[keys.CLOCK].now()
    figures = await month_from_prometheus(app[keys.HTTP], url, monitoring.job, monitoring.services, now)
    return json_response(sla_body(figures, overall(figures), Month.of(now), now, source, details=False))


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
            uptime_days=[m.UptimeDay(day, pct(u)) for day, u in snapshot.history.get(service.name, ())],
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


@routes.get("/api/monitoring/status")
@operation(m.StatusOut)
async def get_status(request: web.Request) -> web.Response:
    """The public status page (no token), in the shape of Atlassian Statuspage's v2 ``summary.json``.

    Components are the probed services, each ``operational``, ``degraded_performance``,
    ``partial_outage`` or ``major_outage`` from its latest probe, its ongoing breaches and the
    firing in-process alerts; the indicator follows the worst. Incidents are ongoing breaches and
    those resolved in the last 24 hours. Each component adds 90 days of daily uptime
    (``uptime_days``, null for days without data), ``uptime_month_to_date`` and ``sla_target``.
    Served from memory, encoded once per change.
    """
    body = _status(request.app).body
    return web.Response(body=body, content_type="application/json",
                        headers={"Cache-Control": "public, max-age=5", "Access-Control-Allow-Origin": "*"})


def _status(app: web.Application) -> LatestBody:
    snapshot, engine, monitoring = app[keys.SLA].snapshot(), app[keys.ALERTING], app[keys.CONFIG].current.monitoring
    latest = app[keys.STATUS_BODY]
    latest.refresh((snapshot, engine.evaluations, monitoring),
                   lambda: status_body(snapshot, engine, monitoring, app[keys.SETTINGS].public_base_url))
    return latest


def current_status(app: web.Application) -> m.StatusOut:
    """The status the page, the badges and ``GET /api/monitoring/status`` show (built once per change)."""
    value = _status(app).value
    assert isinstance(value, m.StatusOut)
    return value
