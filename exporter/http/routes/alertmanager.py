"""Alertmanager's webhook receiver (``POST /-/alertmanager/webhook``) and the notifications it kept.

``deploy/alertmanager/alertmanager.yml`` routes every receiver here. With
``ALERTMANAGER_WEBHOOK_TOKEN`` set, a notification must carry ``Authorization: Bearer <token>``
(Alertmanager: ``http_config: {authorization: {credentials: ...}}``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from exporter.alertmanager.webhook import NotificationLog, ReceivedNotification, WebhookMessage
from exporter.auth.authenticator import challenge
from exporter.auth.tokens import same_secret
from exporter.core.clock import Clock
from exporter.core.errors import Unauthorized
from exporter.core.parsing import int_param
from exporter.http.caller import bearer_token, requires
from exporter.http.json import json_response
from exporter.http.openapi import operation, param, read_body


class WebhookAccepted(msgspec.Struct):
    received: bool
    alerts: int
    severity: str  # the highest among the alerts, as counted in the metric


class NotificationsOut(msgspec.Struct):
    notifications: Annotated[list[ReceivedNotification], msgspec.Meta(description="Newest first.")]


class AlertmanagerApi:
    def __init__(self, notifications: NotificationLog, clock: Clock, webhook_token: str | None) -> None:
        self._notifications = notifications
        self._clock = clock
        self._token = webhook_token

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/-/alertmanager/webhook", self.alertmanager_webhook),
                web.get("/api/monitoring/alertmanager/notifications", self.list_notifications)]

    @operation(WebhookAccepted, body=WebhookMessage, errors=(401,), tags=("alertmanager",))
    async def alertmanager_webhook(self, request: web.Request) -> web.Response:
        """Receive an Alertmanager webhook notification (``version: "4"``): count it, log it, keep it.

        Counted in ``tenant_exporter_alertmanager_notifications_total{status,severity}``; the last
        ``ALERTMANAGER_WEBHOOK_HISTORY`` are kept in the database and listed by every replica at
        ``/api/monitoring/alertmanager/notifications``. 401 without the bearer token when
        ``ALERTMANAGER_WEBHOOK_TOKEN`` is set; 422 for a body that is not a version 4 notification; 503 when
        the database is unavailable (Alertmanager sends it again).
        """
        expected = self._token
        if expected is not None:
            token = bearer_token(request) or ""
            if not same_secret(token, expected):
                raise Unauthorized("this webhook needs the bearer token set in ALERTMANAGER_WEBHOOK_TOKEN",
                                   headers=challenge("invalid_token" if token else None))
        message: WebhookMessage = await read_body(request)
        note = await self._notifications.receive(message, self._clock.now())
        return json_response(WebhookAccepted(True, len(message.alerts), note.severity))

    @requires("operator")
    @operation(NotificationsOut, errors=(400,), query={
        "limit": param("at most this many, newest first (1-1000)", type="integer", minimum=1, maximum=1000)})
    async def list_notifications(self, request: web.Request) -> web.Response:
        """The Alertmanager notifications received most recently, by any replica, newest first (operators)."""
        limit = int_param(request.query, "limit", maximum=1000) or 100
        return json_response(NotificationsOut(await self._notifications.latest(limit)))
