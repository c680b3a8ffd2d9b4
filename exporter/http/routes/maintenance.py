"""Scheduled maintenance windows: ``/api/monitoring/maintenance`` (list: any role; schedule and cancel: operators).

The windows of monitoring.yml and those made here are one schedule (``monitoring/maintenance.py``):
shown on the status page, holding back alerts about their services, and left out of the SLA as
each SLO's policy says. Scheduling and cancelling are audited in the platform's log.
"""

from __future__ import annotations

from aiohttp import web

from exporter.audit.actions import MAINTENANCE_CANCEL, MAINTENANCE_CREATE
from exporter.audit.events import PLATFORM, Target
from exporter.config import ConfigHolder
from exporter.core.clock import Clock, isoformat
from exporter.core.errors import ValidationFailed
from exporter.http.auditing import Auditing
from exporter.http.caller import PRINCIPAL, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation, read_body
from exporter.http.routes import maintenance_models as m
from exporter.monitoring.maintenance import MaintenanceSchedule, MaintenanceWindow


def window_out(window: MaintenanceWindow, now: float) -> m.MaintenanceOut:
    return m.MaintenanceOut(window.id, window.name, list(window.services), isoformat(window.starts_at),
                            isoformat(window.ends_at), window.description, window.status(now), window.source)


class MaintenanceApi:
    def __init__(self, schedule: MaintenanceSchedule, config: ConfigHolder, clock: Clock, auditing: Auditing) -> None:
        self._schedule = schedule
        self._config = config
        self._clock = clock
        self._auditing = auditing

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/monitoring/maintenance", self.list_windows),
                web.post("/api/monitoring/maintenance", self.schedule),
                web.delete("/api/monitoring/maintenance/{window_id:[A-Za-z0-9_-]{1,64}}", self.cancel)]

    @requires()
    @operation(m.MaintenanceListOut)
    async def list_windows(self, request: web.Request) -> web.Response:
        """Scheduled maintenance windows: to come, in progress, and completed in the last 90 days."""
        now = self._clock.now()
        return json_response(m.MaintenanceListOut([window_out(w, now) for w in self._schedule.windows()]))

    @requires("operator")
    @operation(m.MaintenanceOut, body=m.MaintenanceIn, status=201, errors=(422,))
    async def schedule(self, request: web.Request) -> web.Response:
        """Schedule a maintenance window over probed services (operators; audited as ``maintenance.create``).

        While it is in progress its services show ``under_maintenance`` on the status page, alerts
        about them are held back from Alertmanager and open no incident, and the SLA leaves the time
        out (each SLO's ``maintenance`` policy). 422 for an unknown service, an end not after the
        start, or an end in the past.
        """
        body: m.MaintenanceIn = await read_body(request)
        known = [s.name for s in self._config.current.monitoring.services]
        unknown = [s for s in body.services if s not in known]
        start, end, now = body.start.timestamp(), body.end.timestamp(), self._clock.now()
        problems = [f"unknown service {s!r} (probed: {', '.join(known)})" for s in unknown]
        if end <= start:
            problems.append("end must be after start")
        if end <= now:
            problems.append("end must be in the future")
        if problems:
            raise ValidationFailed("; ".join(problems), slug="invalid-maintenance", extra={"errors": problems})
        principal = request[PRINCIPAL]
        window = await self._schedule.create(body.name.strip(), body.services, start, end, body.description.strip(),
                                             principal.key_name)
        await self._auditing.record(request, MAINTENANCE_CREATE, target=Target("maintenance", window.id, window.name),
                                    tenant_id=PLATFORM, details={"services": list(window.services),
                                                                 "start": isoformat(start), "end": isoformat(end)})
        return json_response(window_out(window, now), status=201)

    @requires("operator")
    @operation(m.MaintenanceOut, errors=(404,))
    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel a window made through this API (operators; audited as ``maintenance.cancel``); 404 otherwise.

        Windows of monitoring.yml are changed there.
        """
        window = await self._schedule.cancel(request.match_info["window_id"])
        await self._auditing.record(request, MAINTENANCE_CANCEL, target=Target("maintenance", window.id, window.name),
                                    tenant_id=PLATFORM)
        return json_response(window_out(window, self._clock.now()))
