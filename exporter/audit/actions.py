"""The actions this service audits, and the events of those not tied to one handler.

Action names are part of the log's schema (and label ``tenant_exporter_audit_events_total``):
add new ones here, dot-namespaced, never reuse an old one with a new meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from exporter.audit.events import NO_CONTEXT, PLATFORM, SUCCESS, Actor, EventDraft, Outcome, RequestContext, Target
from exporter.store import ApiKeyRecord

API_KEY_CREATE: Final = "api_key.create"
API_KEY_REVOKE: Final = "api_key.revoke"
USAGE_REPORT: Final = "usage.report"
CONFIG_RELOAD: Final = "config.reload"
AUTH_FAILURE: Final = "auth.failure"
AUDIT_LOG_EXPORT: Final = "audit_log.export"
ALERT_ACKNOWLEDGE: Final = "alert.acknowledge"  # recorded by POST /api/monitoring/alerts/acknowledge/{id}
ALERT_ACKNOWLEDGEMENT_END: Final = "alert.acknowledgement.end"  # its Alertmanager silence expired or was deleted
MAINTENANCE_CREATE: Final = "maintenance.create"  # POST /api/monitoring/maintenance
MAINTENANCE_CANCEL: Final = "maintenance.cancel"  # DELETE /api/monitoring/maintenance/{id}
METRIC_CUSTOM_SUBMIT: Final = "metric.custom.submit"  # one event per API key per interval (custom_metrics_audit)
# tenants provisioned over the API, each event in the tenant's own chain, committed with the change
TENANT_CREATE: Final = "tenant.create"
TENANT_UPDATE: Final = "tenant.update"
TENANT_DISABLE: Final = "tenant.disable"  # an update that only disables it
TENANT_ENABLE: Final = "tenant.enable"  # an update that only enables it again
TENANT_DELETE: Final = "tenant.delete"  # its keys revoked; its events kept (the chain stays verifiable)


class Reload(Protocol):
    """What a reload of the config files came to (``config.ReloadResult`` is one)."""

    @property
    def ok(self) -> bool: ...

    @property
    def files(self) -> Sequence[str]: ...

    @property
    def errors(self) -> Sequence[str]: ...

    @property
    def version(self) -> str: ...


def config_reload(result: Reload, actor: Actor, context: RequestContext = NO_CONTEXT) -> EventDraft:
    """A reload of the config files: who asked, which files, and the version or the errors."""
    outcome = SUCCESS if result.ok else Outcome.failure(
        f"{len(result.errors)} problem(s); kept version {result.version}: {result.errors[0] if result.errors else ''}"
    )
    details: dict[str, Any] = {"files": list(result.files), "version": result.version, "errors": list(result.errors)}
    return EventDraft(PLATFORM, CONFIG_RELOAD, actor, Target("config", result.version), outcome, details, context)


def api_key_event(action: str, key: ApiKeyRecord, actor: Actor, context: RequestContext = NO_CONTEXT,
                  **details: Any) -> EventDraft:
    """A key created or revoked (its id, name and role; never its token)."""
    return EventDraft(key.tenant_id, action, actor, Target("api_key", key.id, key.name),
                      details={"role": key.role, **details}, context=context)
