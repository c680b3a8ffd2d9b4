"""Monitoring API handlers: ``/api/monitoring/*`` (health, metrics, alerts, acknowledge, custom metrics).

The numbers come from the in-process evaluator's latest evaluation (``alerting.py``), which
applies the same rules as the generated Prometheus rules. ``/status`` is in ``api/status.py``;
``/sla`` does not exist yet (the ``sla`` branch of issue 6), rather than answer invented numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from exporter.audit.actions import ALERT_ACKNOWLEDGE
from exporter.audit.events import PLATFORM, Target
from exporter.auth.keyring import PRINCIPAL, TENANT, Principal, requires
from exporter.core.clock import isoformat
from exporter.core.errors import BadRequest, ProblemError
from exporter.http import auditing
from exporter.http import state as keys
from exporter.http.json import json_response
from exporter.http.openapi import operation, param, read_body
from exporter.http.routes import monitoring_models as m
from exporter.monitoring.alerts import Alert, AlertState
from exporter.monitoring.signals import Unit
from exporter.monitoring.view import Latency, MonitorView
from exporter.store import AckRecord

routes = web.RouteTableDef()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 2)


def _in_unit(value: Decimal | float, unit: Unit) -> int | float:
    """An exact base-unit value (a threshold, a rounded signal) in display units: 0.05 -> 5, 0.875 -> 875."""
    scaled = (value if isinstance(value, Decimal) else Decimal(repr(value))) * unit.display_scale
    return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)


def _latency(latency: Latency) -> m.LatencyOut:
    return m.LatencyOut(_ms(latency.average), _ms(latency.p50), _ms(latency.p95), _ms(latency.p99))


def _value(alert: Alert) -> int | float | None:
    return None if alert.rule.operator == "absent" else _in_unit(alert.value, alert.rule.signal.unit)


def _threshold(alert: Alert) -> int | float | None:
    threshold = alert.rule.threshold
    return None if threshold is None else _in_unit(threshold.value, alert.rule.signal.unit)


def _health_alert(alert: Alert, acknowledged: bool) -> m.HealthAlert:
    rule, unit = alert.rule, alert.rule.signal.unit
    value = _value(alert)
    shown = "no data" if value is None else f"{value}{unit.display}"
    return m.HealthAlert(
        severity=rule.severity, message=f"{rule.summary.rstrip('.')}: {shown}", threshold=_threshold(alert),
        id=alert.id, alertname=rule.name, state=alert.state.value, value=value, unit=unit.display,
        since=isoformat(alert.active_at_ms / 1000), summary=rule.summary, description=rule.description,
        runbook_url=rule.runbook_url, acknowledged=acknowledged,
    )


def _ack(record: AckRecord | None) -> m.Acknowledgement | None:
    if record is None:
        return None
    return m.Acknowledgement(record.key_name, record.key_id, record.tenant_id, isoformat(record.acknowledged_at),
                             record.comment, record.silence_id)


def _alert(alert: Alert, record: AckRecord | None, principal: Principal) -> m.AlertOut:
    """The alert as ``principal`` may see it: whether it is acknowledged, and by whom only for operators.

    The service's alerts are the platform's (they explain the status page every tenant sees);
    operators acknowledge them, and no tenant learns another's or an operator's key or comment.
    """
    rule = alert.rule

    def at(ms: int | None) -> str | None:
        return None if ms is None else isoformat(ms / 1000)

    return m.AlertOut(
        id=alert.id, rule=rule.name, severity=rule.severity, state=alert.state.value, signal=rule.signal.name,
        value=_value(alert), threshold=_threshold(alert), operator=rule.operator, unit=rule.signal.unit.display,
        since=isoformat(alert.active_at_ms / 1000), fired_at=at(alert.fired_at_ms),
        resolved_at=at(alert.resolved_at_ms),
        labels=dict(alert.labels), annotations=rule.annotations, acknowledged=record is not None,
        acknowledgement=_ack(record) if principal.is_operator else None,
    )


def _view(request: web.Request) -> tuple[MonitorView | None, float, int]:
    """The latest evaluation's view, the window in seconds, and the caller's active users."""
    app = request.app
    engine = app[keys.ALERTING]
    window = app[keys.CONFIG].current.monitoring.window_ms / 1000
    principal = request[PRINCIPAL]
    tenant = None if principal.is_operator else request[TENANT].id
    users = app[keys.ACTIVE_USERS].count(window, tenant)
    return (engine.latest.view if engine.latest else None), window, users


@routes.get("/api/monitoring/health")
@requires()
@operation(m.HealthOut)
async def get_health(request: web.Request) -> web.Response:
    """Current health: healthy, degraded (a warning fires) or unhealthy (an error fires), with the figures.

    ``services`` gives the latest probe of every probed service (the database among them).
    """
    engine = request.app[keys.ALERTING]
    view, window, users = _view(request)
    firing = [a for a in engine.alerts() if a.state is AlertState.FIRING]
    severities = {a.rule.severity for a in firing}
    status = "unhealthy" if "error" in severities else "degraded" if "warning" in severities else "healthy"
    alerts = [_health_alert(a, engine.acknowledgement(a) is not None) for a in firing]
    now = request.app[keys.CLOCK].now()
    latest = request.app[keys.PROBE_RESULTS].latest
    services = {}
    for service in request.app[keys.CONFIG].current.monitoring.services:
        r = latest.get(service.name)
        services[service.name] = m.ServiceHealth(
            up=None if r is None else r.success, degraded=bool(r and r.degraded),
            latency_ms=None if r is None else round(r.duration_seconds * 1000, 3),
            checked_at=None if r is None or not r.at else isoformat(r.at), detail="" if r is None else r.detail)
    return json_response(m.HealthOut(
        status=status,
        response_time=_ms(view.latency.average) if view else None,
        error_rate=_pct(view.error_ratio) if view else None,
        uptime=_pct(view.uptime_ratio) if view else None,
        active_users=users,
        cpu_usage=_pct(view.cpu_ratio) if view else None,
        memory_usage=_pct(view.memory_ratio) if view else None,
        alerts=alerts, timestamp=isoformat(now), window_seconds=window,
        evaluated_at=isoformat(view.t) if view else None, services=services,
    ))


@routes.get("/api/monitoring/metrics")
@requires()
@operation(m.MetricsOut)
async def get_metrics(request: web.Request) -> web.Response:
    """Response time (average, p50, p95, p99), error rate, uptime, users, CPU, memory, rps; also per route."""
    view, window, users = _view(request)
    empty = Latency(None, None, None, None)
    return json_response(m.MetricsOut(
        response_time=_latency(view.latency if view else empty),
        error_rate=_pct(view.error_ratio) if view else None,
        uptime=_pct(view.uptime_ratio) if view else None,
        active_users=users,
        cpu_usage=_pct(view.cpu_ratio) if view else None,
        memory_usage=_pct(view.memory_ratio) if view else None,
        requests_per_second=None if view is None or view.requests_per_second is None
        else round(view.requests_per_second, 3),
        routes=[m.RouteOut(r.method, r.route, round(r.requests_per_second, 3), _pct(r.error_ratio),
                           _latency(r.latency)) for r in (view.routes if view else ())],
        window_seconds=window, timestamp=isoformat(request.app[keys.CLOCK].now()),
        evaluated_at=isoformat(view.t) if view else None,
    ))


@routes.get("/api/monitoring/alerts")
@requires()
@operation(m.AlertsOut, errors=(400,), query={
    "include_resolved": param("true: also the alerts resolved in the last 15 minutes", enum=["true", "false"])})
async def get_alerts(request: web.Request) -> web.Response:
    """Active alerts (pending and firing; ``?include_resolved=true`` adds the recently resolved)."""
    flag = request.query.get("include_resolved", "false").lower()
    if flag not in ("true", "false"):
        raise BadRequest("include_resolved must be true or false", slug="invalid-parameter")
    engine = request.app[keys.ALERTING]
    principal = request[PRINCIPAL]
    alerts = [_alert(a, engine.acknowledgement(a), principal)
              for a in engine.alerts(include_resolved=flag == "true")]
    latest = engine.latest
    return json_response(m.AlertsOut(alerts, isoformat(latest.t_ms / 1000) if latest else None))


@routes.post("/api/monitoring/alerts/acknowledge/{alert_id}")
@requires("operator")
@operation(m.AlertOut, body=m.AcknowledgeIn, errors=(404,))
async def acknowledge(request: web.Request) -> web.Response:
    """Acknowledge an active alert (operators). Idempotent; shown until the alert resolves; 404 for unknown ids.

    The alerts are the platform's, so operators acknowledge them. The body (a comment) is
    optional. The acknowledgement is stored durably and cleared when the alert resolves;
    acknowledging again returns the first acknowledgement. A new acknowledgement is recorded in
    the platform's audit log (``alert.acknowledge``) before the answer.
    """
    body = await read_body(request) if request.body_exists else m.AcknowledgeIn()
    principal = request[PRINCIPAL]
    alert, record, created = await request.app[keys.ALERTING].acknowledge(
        request.match_info["alert_id"], tenant_id=principal.tenant_id, key_id=principal.key_id,
        key_name=principal.key_name, comment=body.comment,
    )
    if created:
        await auditing.record(request, ALERT_ACKNOWLEDGE, target=Target("alert", alert.id, alert.rule.name),
                              details={"severity": alert.rule.severity, "state": alert.state.value,
                                       "comment": body.comment}, tenant_id=PLATFORM)
    return json_response(_alert(alert, record, principal))


@routes.post("/api/monitoring/metrics/custom")
@requires("service", "admin")
@operation(m.CustomMetricOut, body=m.CustomMetricIn, errors=(409,))
async def post_custom_metric(request: web.Request) -> web.Response:
    """Record a custom metric sample; it is exported on /metrics with its tags as labels.

    Exported as ``tenant_exporter_custom_<name>{<tags>, tenant}`` (a gauge). 422 for an unusable
    name, tag, value or timestamp; 409 for a name or tag that collides with a reserved one, or a
    sample older than the series' latest; 429 when the tenant's (or the service's) series limit is
    reached and the sample would start a new series. Every refusal is counted.
    """
    custom, tenant = request.app[keys.CUSTOM_METRICS], request[TENANT]
    digest, principal = request.app[keys.CUSTOM_DIGEST], request[PRINCIPAL]  # summarised in the audit log
    try:
        body: m.CustomMetricIn = await read_body(request)
    except ProblemError:
        custom.reject(tenant.id, "invalid_body")
        digest.note(principal, None, "invalid_body")
        raise
    try:
        recorded = custom.record(tenant.id, body.name, body.value, body.tags, body.timestamp)
    except ProblemError as e:
        digest.note(principal, body.name, str(e.extra.get("reason", e.slug)))
        raise
    digest.note(principal, body.name)
    timestamp = body.timestamp or datetime.fromtimestamp(recorded.timestamp, UTC)
    return json_response(m.CustomMetricOut(True, body.name, body.value, timestamp, recorded.exported_as, tenant.id,
                                           recorded.labels))
