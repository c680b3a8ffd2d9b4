"""``GET /api/monitoring/sla`` (any role) and ``GET /api/monitoring/status`` (public).

Both read the SLA tracker's in-memory snapshot (``sla/tracker.py``): no store query per request.
``/sla?source=prometheus`` asks Prometheus instead (``sla/from_prometheus.py``). The status body
(``sla/status_page.py``) is encoded once per snapshot and alert evaluation, then served as bytes.
"""

from __future__ import annotations

from aiohttp import web

from exporter.config import ConfigHolder
from exporter.core.clock import Clock, Month
from exporter.core.errors import BadRequest, Conflict
from exporter.core.outbound import HttpClient
from exporter.http.caller import requires
from exporter.http.json import LatestBody, json_response
from exporter.http.openapi import operation, param
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.maintenance import MaintenanceSchedule
from exporter.sla import models as m
from exporter.sla.accounting import overall
from exporter.sla.from_prometheus import month_from_prometheus, slos_from_prometheus
from exporter.sla.incidents import Incidents
from exporter.sla.report import report
from exporter.sla.request_slos import RequestSloTracker
from exporter.sla.status_page import status_body
from exporter.sla.tracker import SlaTracker


def _flag(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0]).lower()
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}", slug="invalid-parameter")
    return value


class SlaApi:
    def __init__(self, tracker: SlaTracker, request_slos: RequestSloTracker, engine: AlertEngine, config: ConfigHolder,
                 clock: Clock, client: HttpClient, prometheus_url: str | None, public_base_url: str | None, *,
                 incidents: Incidents, maintenance: MaintenanceSchedule) -> None:
        self._tracker = tracker
        self._request_slos = request_slos
        self._incidents = incidents
        self._maintenance = maintenance
        self._engine = engine
        self._config = config
        self._clock = clock
        self._client = client
        self._prometheus_url = prometheus_url
        self._public_base_url = public_base_url
        self._status = LatestBody()  # the public status page, encoded once per change

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/monitoring/sla", self.get_sla), web.get("/api/monitoring/status", self.get_status)]

    @requires()
    @operation(m.SlaOut, errors=(400, 409, 502), query={
        "details": param("true: list each service's breaches (start, end, duration)", enum=["false", "true"]),
        "source": param("service (its own records, the default) or prometheus (the probe counters in Prometheus, "
                        "when PROMETHEUS_URL is set)", enum=["service", "prometheus"]),
    })
    async def get_sla(self, request: web.Request) -> web.Response:
        """SLA compliance for this calendar month (UTC) so far: uptime, target, error budget and breaches per service,
        and the request and latency SLOs (``slos``: attainment, error budget, burn rate; per tenant where asked).

        Uptime is time-weighted: each probe result stands for its probe interval; degraded (slow but
        successful) time is up time. A breach is a run of failed probes of at least
        ``breach_min_failures`` results or ``breach_min_duration``. ``source=prometheus`` computes the
        same figures from the probe counters Prometheus scraped (409 when PROMETHEUS_URL is not set,
        502 when Prometheus fails); breach details come only from the service's own records (with
        ``source=prometheus`` each ``breaches`` is null).
        """
        details = _flag(request, "details", ("false", "true")) == "true"
        source = _flag(request, "source", ("service", "prometheus"))
        if source == "service":
            snapshot = self._tracker.snapshot()
            return json_response(report(snapshot.services, snapshot.overall_uptime, snapshot.month, snapshot.at,
                                        source, details, self._request_slos.figures()))
        if self._prometheus_url is None:
            raise Conflict("this service has no PROMETHEUS_URL; ask for source=service",
                           slug="prometheus-not-configured")
        monitoring = self._config.current.monitoring
        now = self._clock.now()
        figures = await month_from_prometheus(self._client, self._prometheus_url, monitoring.job,
                                              monitoring.services, monitoring.sla, now)
        slos = await slos_from_prometheus(self._client, self._prometheus_url, monitoring.job, monitoring.slos, now)
        return json_response(report(figures, overall(figures), Month.of(now), now, source, details=False, slos=slos))

    @operation(m.StatusOut)
    async def get_status(self, request: web.Request) -> web.Response:
        """The public status page (no token), in the shape of Atlassian Statuspage's v2 ``summary.json``.

        Components are the probed services, each ``operational``, ``under_maintenance``,
        ``degraded_performance``, ``partial_outage`` or ``major_outage``; outages come only from open
        incidents, so the indicator (the worst component), the components and the incidents agree.
        Incidents (opened by firing error alerts and breaches, with their public updates) are listed
        open first, then those resolved in the last 90 days; ``scheduled_maintenances`` lists the
        windows to come and in progress. Each component adds 90 days of daily uptime (``uptime_days``,
        null for days without data, with the day's downtime and unobserved minutes),
        ``uptime_month_to_date`` and ``sla_target``. Served from memory, encoded once per change.
        """
        return web.Response(body=self._latest().body, content_type="application/json",
                            headers={"Cache-Control": "public, max-age=5", "Access-Control-Allow-Origin": "*"})

    def _latest(self) -> LatestBody:
        snapshot, engine, monitoring = self._tracker.snapshot(), self._engine, self._config.current.monitoring
        incidents, windows = self._incidents.current, self._maintenance.windows()
        phases = tuple((w.id, w.status(snapshot.at)) for w in windows)  # a window's start or end is a change
        probes = engine.probes()  # the evaluating replica's, so that every replica shows the same components
        self._status.refresh((snapshot, engine.generation, monitoring, self._incidents.version, phases, probes),
                             lambda: status_body(snapshot, engine.alerts(), monitoring, self._public_base_url,
                                                 incidents, windows, probes))
        return self._status

    def current_status(self) -> m.StatusOut:
        """The status the page, the badges and ``GET /api/monitoring/status`` show (built once per change)."""
        value = self._latest().value
        assert isinstance(value, m.StatusOut)
        return value
