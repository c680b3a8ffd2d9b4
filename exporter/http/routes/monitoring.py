"""Monitoring API handlers: ``/api/monitoring/*`` (health, metrics, alerts, acknowledge, custom metrics).

The answers are assembled by ``monitoring/health.py`` from the in-process evaluator's latest
evaluation; ``/sla`` and ``/status`` are in ``routes/sla.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from exporter.audit.actions import ALERT_ACKNOWLEDGE
from exporter.audit.events import PLATFORM, Target
from exporter.config import ConfigHolder
from exporter.core.clock import Clock, isoformat
from exporter.core.errors import BadRequest, ProblemError
from exporter.http.auditing import Auditing
from exporter.http.caller import PRINCIPAL, TENANT, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation, param, read_body
from exporter.http.routes import monitoring_models as m
from exporter.monitoring import health
from exporter.monitoring import models as out
from exporter.monitoring.active_users import ActiveUsers
from exporter.monitoring.alerts import Alert
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.telemetry.custom import CustomMetrics
from exporter.telemetry.custom_audit import SubmissionDigest


class MonitoringApi:
    def __init__(self, engine: AlertEngine, config: ConfigHolder, clock: Clock, active_users: ActiveUsers,
                 custom: CustomMetrics, digest: SubmissionDigest, auditing: Auditing,
                 maintenance: MaintenanceSchedule | None = None) -> None:
        self._engine = engine
        self._maintenance = maintenance
        self._config = config
        self._clock = clock
        self._active_users = active_users
        self._custom = custom
        self._digest = digest
        self._auditing = auditing

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/monitoring/health", self.get_health),
                web.get("/api/monitoring/metrics", self.get_metrics),
                web.get("/api/monitoring/alerts", self.get_alerts),
                web.post("/api/monitoring/alerts/acknowledge/{alert_id}", self.acknowledge),
                web.post("/api/monitoring/metrics/custom", self.post_custom_metric)]

    def _silenced(self, alert: Alert) -> str | None:
        window = self._maintenance.silencing(alert) if self._maintenance is not None else None
        return window.id if window is not None else None

    def _window_and_users(self, request: web.Request) -> tuple[float, int]:
        """The window in seconds, and the active users the caller may count (its tenant's; all for operators), seen
        by any replica."""
        window = self._config.current.monitoring.window_ms / 1000
        tenant = None if request[PRINCIPAL].is_operator else request[TENANT].id
        seen = self._active_users.keys(window, tenant)  # this replica's, up to this request
        fleet = self._engine.active_users()  # every replica's, as of the latest evaluation (in a fleet)
        if fleet is not None:
            seen |= {(t, key) for t, keys in fleet.items() if tenant in (None, t) for key in keys}
        return window, len(seen)

    @requires()
    @operation(out.HealthOut)
    async def get_health(self, request: web.Request) -> web.Response:
        """Current health: healthy, degraded (a warning fires) or unhealthy (an error fires), with the figures.

        ``services`` gives the latest probe of every probed service (the database among them); ``config`` the
        configuration version this replica runs. Behind a load balancer every replica answers alike: one
        replica (``evaluator``) evaluates the rules over every replica's traffic and the others serve its
        evaluation and its probes; ``replicas`` gives each replica's CPU, memory and API uptime.
        """
        window, users = self._window_and_users(request)
        holder = self._config
        config = out.ConfigState(holder.current.version, holder.generation, holder.ok, isoformat(holder.loaded_at))
        return json_response(health.health(self._engine, holder.current.monitoring.services, users, window,
                                           self._clock.now(), config, self._silenced))

    @requires()
    @operation(out.MetricsOut)
    async def get_metrics(self, request: web.Request) -> web.Response:
        """Response time (average, p50, p95, p99), error rate, uptime, users, CPU, memory, rps; also per route."""
        window, users = self._window_and_users(request)
        view = self._engine.latest.view if self._engine.latest else None
        return json_response(health.metrics(view, users, window, self._clock.now()))

    @requires()
    @operation(out.AlertsOut, errors=(400,), query={
        "include_resolved": param("true: also the alerts resolved in the last 15 minutes", enum=["true", "false"])})
    async def get_alerts(self, request: web.Request) -> web.Response:
        """Active alerts (pending and firing; ``?include_resolved=true`` adds the recently resolved)."""
        flag = request.query.get("include_resolved", "false").lower()
        if flag not in ("true", "false"):
            raise BadRequest("include_resolved must be true or false", slug="invalid-parameter")
        return json_response(health.alerts(self._engine, include_resolved=flag == "true",
                                           operator=request[PRINCIPAL].is_operator, silenced=self._silenced))

    @requires("operator")
    @operation(out.AlertOut, body=m.AcknowledgeIn, errors=(404,))
    async def acknowledge(self, request: web.Request) -> web.Response:
        """Acknowledge an active alert (operators). Idempotent; shown until the alert resolves; 404 for unknown ids.

        The alerts are the platform's, so operators acknowledge them. The body (a comment) is
        optional. The acknowledgement is stored durably and cleared when the alert resolves;
        acknowledging again returns the first acknowledgement. An alert of severity error has an incident
        on the status page, which the acknowledgement moves to ``identified``; its public update says
        ``public_message`` when one is given (never the key, its name or the comment). A new acknowledgement is
        recorded in the platform's audit log (``alert.acknowledge``) before the answer.
        """
        body = await read_body(request) if request.body_exists else m.AcknowledgeIn()
        principal = request[PRINCIPAL]
        alert, record, created = await self._engine.acknowledge(
            request.match_info["alert_id"], tenant_id=principal.tenant_id, key_id=principal.key_id,
            key_name=principal.key_name, comment=body.comment, public_message=body.public_message,
        )
        if created:
            await self._auditing.record(
                request, ALERT_ACKNOWLEDGE, target=Target("alert", alert.id, alert.rule.name), tenant_id=PLATFORM,
                details={"severity": alert.rule.severity, "state": alert.state.value, "comment": body.comment,
                         "public_message": body.public_message})
        return json_response(health.alert_out(alert, record, operator=True))

    @requires("service", "admin")
    @operation(m.CustomMetricOut, body=m.CustomMetricIn, errors=(409,))
    async def post_custom_metric(self, request: web.Request) -> web.Response:
        """Record a custom metric sample; it is exported on /metrics with its tags as labels.

        Exported as ``tenant_exporter_custom_<name>{<tags>, tenant}`` (a gauge). 422 for an unusable
        name, tag, value or timestamp; 409 for a name or tag that collides with a reserved one, or a
        sample older than the series' latest; 429 when the tenant's (or the service's) series limit is
        reached and the sample would start a new series. Every refusal is counted.
        """
        custom, tenant = self._custom, request[TENANT]
        digest, principal = self._digest, request[PRINCIPAL]  # summarised in the audit log
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
        return json_response(m.CustomMetricOut(True, body.name, body.value, timestamp, recorded.exported_as,
                                               tenant.id, recorded.labels))
