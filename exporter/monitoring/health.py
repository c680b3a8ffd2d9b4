"""What ``/api/monitoring/health``, ``/metrics`` and ``/alerts`` answer, assembled from the engine's latest
evaluation: the overall status, the figures in display units, the alerts as the caller may see them.

The numbers are the in-process evaluator's (``engine.py``), which applies the same rules as the
generated Prometheus rules. Acknowledgements are shown to operators only: the alerts are the
platform's, and no tenant learns another's or an operator's key or comment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from exporter.core.clock import isoformat
from exporter.monitoring import models as m
from exporter.monitoring.alerts import Alert, AlertState
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.services import ServiceConfig
from exporter.monitoring.signals import Unit
from exporter.monitoring.view import Latency, MonitorView
from exporter.store import AckRecord


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


def status_of(firing: Sequence[Alert]) -> str:
    """unhealthy when an error fires, degraded when a warning does, else healthy."""
    severities = {a.rule.severity for a in firing}
    return "unhealthy" if "error" in severities else "degraded" if "warning" in severities else "healthy"


Silenced = Callable[[Alert], str | None]  # the id of the maintenance window holding an alert back, if any


def _none(_: Alert) -> str | None:
    return None


def _health_alert(alert: Alert, acknowledged: bool, maintenance: str | None = None) -> m.HealthAlert:
    rule, unit = alert.rule, alert.rule.signal.unit
    value = _value(alert)
    shown = "no data" if value is None else f"{value}{unit.display}"
    return m.HealthAlert(
        severity=rule.severity, message=f"{rule.summary.rstrip('.')}: {shown}", threshold=_threshold(alert),
        id=alert.id, alertname=rule.name, state=alert.state.value, value=value, unit=unit.display,
        since=isoformat(alert.active_at_ms / 1000), summary=rule.summary, description=rule.description,
        runbook_url=rule.runbook_url, acknowledged=acknowledged, maintenance=maintenance,
    )


def _ack(record: AckRecord | None) -> m.Acknowledgement | None:
    if record is None:
        return None
    return m.Acknowledgement(record.key_name, record.key_id, record.tenant_id, isoformat(record.acknowledged_at),
                             record.comment, record.silence_id, record.public_message)


def alert_out(alert: Alert, record: AckRecord | None, *, operator: bool, maintenance: str | None = None,
              ) -> m.AlertOut:
    """The alert as its reader may see it: whether it is acknowledged, and by whom only for operators."""
    rule = alert.rule

    def at(ms: int | None) -> str | None:
        return None if ms is None else isoformat(ms / 1000)

    return m.AlertOut(
        id=alert.id, rule=rule.name, severity=rule.severity, state=alert.state.value, signal=rule.signal.name,
        value=_value(alert), threshold=_threshold(alert), operator=rule.operator, unit=rule.signal.unit.display,
        since=isoformat(alert.active_at_ms / 1000), fired_at=at(alert.fired_at_ms),
        resolved_at=at(alert.resolved_at_ms),
        labels=dict(alert.labels), annotations=rule.annotations, acknowledged=record is not None,
        acknowledgement=_ack(record) if operator else None, maintenance=maintenance,
    )


def health(engine: AlertEngine, services: Sequence[ServiceConfig], active_users: int, window_seconds: float,
           now: float, config: m.ConfigState | None = None, silenced: Silenced = _none) -> m.HealthOut:
    """Current health with the figures of the latest evaluation and the latest probe of every service (both the
    evaluating replica's, so that every replica of a fleet answers alike)."""
    view = engine.latest.view if engine.latest else None
    probes = engine.probes()
    by = engine.evaluated_by() if view else None
    firing = [a for a in engine.alerts() if a.state is AlertState.FIRING]
    per_service = {}
    for service in services:
        r = probes.get(service.name)
        per_service[service.name] = m.ServiceHealth(
            up=None if r is None else r.success, degraded=bool(r and r.degraded),
            latency_ms=None if r is None else round(r.duration_seconds * 1000, 3),
            checked_at=None if r is None or not r.at else isoformat(r.at), detail="" if r is None else r.detail)
    return m.HealthOut(
        status=status_of(firing),
        response_time=_ms(view.latency.average) if view else None,
        error_rate=_pct(view.error_ratio) if view else None,
        uptime=_pct(view.uptime_ratio) if view else None,
        active_users=active_users,
        cpu_usage=_pct(view.cpu_ratio) if view else None,
        memory_usage=_pct(view.memory_ratio) if view else None,
        alerts=[_health_alert(a, engine.acknowledgement(a) is not None, silenced(a)) for a in firing],
        timestamp=isoformat(now), window_seconds=window_seconds,
        evaluated_at=isoformat(view.t) if view else None, services=per_service, config=config,
        evaluator=None if by is None else m.EvaluatorOut(by[0], None if by[1] is None else isoformat(by[1] / 1000)),
        replicas=_replicas(view, engine.instance),
    )


def _replicas(view: MonitorView | None, alone: str) -> dict[str, m.ReplicaHealth]:
    if view is None:
        return {}
    if not view.replicas:  # one replica, its series unlabelled
        return {alone: m.ReplicaHealth(_pct(view.cpu_ratio), _pct(view.memory_ratio), _pct(view.uptime_ratio))}
    return {r.instance: m.ReplicaHealth(_pct(r.cpu_ratio), _pct(r.memory_ratio), _pct(r.uptime_ratio))
            for r in view.replicas}


def metrics(view: MonitorView | None, active_users: int, window_seconds: float, now: float) -> m.MetricsOut:
    """Response time (average, p50, p95, p99), error rate, uptime, users, CPU, memory, rps; also per route."""
    empty = Latency(None, None, None, None)
    return m.MetricsOut(
        response_time=_latency(view.latency if view else empty),
        error_rate=_pct(view.error_ratio) if view else None,
        uptime=_pct(view.uptime_ratio) if view else None,
        active_users=active_users,
        cpu_usage=_pct(view.cpu_ratio) if view else None,
        memory_usage=_pct(view.memory_ratio) if view else None,
        requests_per_second=None if view is None or view.requests_per_second is None
        else round(view.requests_per_second, 3),
        routes=[m.RouteOut(r.method, r.route, round(r.requests_per_second, 3), _pct(r.error_ratio),
                           _latency(r.latency)) for r in (view.routes if view else ())],
        window_seconds=window_seconds, timestamp=isoformat(now),
        evaluated_at=isoformat(view.t) if view else None,
    )


def alerts(engine: AlertEngine, *, include_resolved: bool, operator: bool, silenced: Silenced = _none) -> m.AlertsOut:
    """Active alerts (and the recently resolved ones), as an operator or a tenant may see them."""
    shown = [alert_out(a, engine.acknowledgement(a), operator=operator, maintenance=silenced(a))
             for a in engine.alerts(include_resolved=include_resolved)]
    latest = engine.latest
    return m.AlertsOut(shown, isoformat(latest.t_ms / 1000) if latest else None)
