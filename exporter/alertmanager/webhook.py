"""Alertmanager's webhook notifications, received: validated, counted, logged, the last N kept.

The payload is Alertmanager's webhook JSON, ``version: "4"`` (``notify/webhook/webhook.go``):
``receiver``, ``status``, ``alerts`` (each with ``status``, ``labels``, ``annotations``,
``startsAt``, ``endsAt``, ``generatorURL``, ``fingerprint``), ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL``, ``groupKey``, ``truncatedAlerts``.
Fields added by later versions (``notification_reason`` in 0.34) are accepted and ignored.

The last ``ALERTMANAGER_WEBHOOK_HISTORY`` notifications are kept in the database, so every replica
lists the same ones and a restart loses none; a notification that cannot be stored is answered
503, and Alertmanager sends it again. ``tenant_exporter_alertmanager_notifications_total{status,severity}``
counts the notifications this replica stored (sum it over the replicas):
``status`` is the group's (firing, resolved), ``severity`` the highest among its alerts, from a
fixed set (critical, error, warning, info, none, other), so a label value sent from outside can
never create a series.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec
from prometheus_client import CollectorRegistry, Counter

from exporter.core.clock import isoformat
from exporter.store import Store

log = logging.getLogger(__name__)

SEVERITIES: Final = ("critical", "error", "warning", "info", "none", "other")
_RANK: Final = {name: rank for rank, name in enumerate(("none", "other", "info", "warning", "error", "critical"))}

Status = Literal["firing", "resolved"]
Time = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 (0001-01-01T00:00:00Z: not yet ended).")]
ShortText = Annotated[str, msgspec.Meta(max_length=4096)]
LabelMap = Annotated[dict[ShortText, ShortText], msgspec.Meta(max_length=256)]


class WebhookAlert(msgspec.Struct, rename="camel"):
    status: Status
    labels: LabelMap
    annotations: LabelMap
    starts_at: Time
    ends_at: Time
    generator_url: ShortText = msgspec.field(default="", name="generatorURL")
    fingerprint: ShortText = ""


class WebhookMessage(msgspec.Struct, rename="camel"):
    """Alertmanager's webhook body (``version: "4"``)."""

    version: Literal["4"]
    status: Status
    receiver: ShortText
    alerts: Annotated[list[WebhookAlert], msgspec.Meta(max_length=1000)]  # Alertmanager's max_alerts
    group_labels: LabelMap = {}
    common_labels: LabelMap = {}
    common_annotations: LabelMap = {}
    external_url: ShortText = msgspec.field(default="", name="externalURL")
    group_key: ShortText = ""
    # a count; JSON writers that send 8.0 for 8 are accepted, as JSON Schema's integer does
    truncated_alerts: Annotated[float, msgspec.Meta(ge=0, le=1e15, multiple_of=1)] = 0


class ReceivedNotification(msgspec.Struct):
    """A notification as kept in memory and listed by the API."""

    received_at: str
    receiver: str
    status: str
    severity: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[WebhookAlert]
    truncated_alerts: int
    external_url: str


def severity_of(message: WebhookMessage) -> str:
    """The highest severity among the alerts, one of ``SEVERITIES``."""
    best = "none"
    for labels in [a.labels for a in message.alerts] or [message.common_labels]:
        raw = labels.get("severity", "none").lower()
        name = raw if raw in _RANK else "other"
        if _RANK[name] > _RANK[best]:
            best = name
    return best


class NotificationLog:
    """The notifications received, kept in the database: every replica lists the same ones, across restarts."""

    def __init__(self, registry: CollectorRegistry, store: Store, keep: int) -> None:
        self._store = store
        self._keep = keep
        self._count = Counter("tenant_exporter_alertmanager_notifications",
                              "Webhook notifications received from Alertmanager, by group status and highest "
                              "severity.", ["status", "severity"], registry=registry)
        for status in ("firing", "resolved"):
            for severity in SEVERITIES:
                self._count.labels(status, severity)

    async def receive(self, message: WebhookMessage, received_at: float) -> ReceivedNotification:
        """Keep and count ``message`` (StoreError when the database is away: Alertmanager sends it again)."""
        severity = severity_of(message)
        note = ReceivedNotification(isoformat(received_at), message.receiver, message.status, severity,
                                    message.group_key, dict(message.group_labels), list(message.alerts),
                                    int(message.truncated_alerts), message.external_url)
        await self._store.add_notification(received_at, msgspec.json.encode(note).decode(), self._keep)
        self._count.labels(message.status, severity).inc()
        # values come from outside: repr() keeps a newline in a label from forging a log line
        log.info("alertmanager notification: receiver=%r status=%s severity=%s alerts=%d alertnames=%r group=%r",
                 message.receiver, message.status, severity, len(message.alerts),
                 sorted({a.labels.get("alertname", "") for a in message.alerts})[:20], message.group_key)
        return note

    async def latest(self, limit: int) -> list[ReceivedNotification]:
        """The kept notifications, newest first."""
        return [_decode(body) for body in await self._store.notifications(min(limit, self._keep))]


_decode = msgspec.json.Decoder(ReceivedNotification).decode
