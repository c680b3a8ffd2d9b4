"""The rows the store keeps, as plain values: a leaf every layer may import (no behaviour here).

Times are Unix seconds (floats); ``''`` stands for "none" in audit columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

GENESIS_HASH = "0" * 64  # the prev_hash of a tenant's first record


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    tenant_id: str
    role: str
    name: str
    token_hash: str
    token_hint: str
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant provisioned over the API: ``spec`` is its definition as canonical JSON; a deleted
    tenant is kept as a tombstone (``deleted_at``). ``revision`` is the store-wide order of changes."""

    id: str
    spec: str
    disabled: bool
    created_at: float
    updated_at: float
    revision: int
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first answer to a create sent with ``Idempotency-Key``, kept to answer a retry the same way."""

    scope: str  # whose key it is (the API key that sent it): keys of different callers never collide
    key: str
    fingerprint: str  # of the request (method, path, body): the same key with another body is refused
    status: int
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AckRecord:
    id: str
    alert_id: str
    alertname: str
    tenant_id: str
    key_id: str
    key_name: str
    comment: str
    acknowledged_at: float
    cleared_at: float | None = None
    silence_id: str | None = None  # the Alertmanager silence that mirrors it, once created
    public_message: str = ""  # what the operator chose to tell the status page ('' : nothing)


class AuditRecord(NamedTuple):
    """One audit event as stored: flat columns, ``''`` for "none", ``details`` as JSON text.

    A tuple in column order, so rows go to the database and come back without conversion.
    """

    tenant_id: str
    seq: int
    id: str
    time: float
    action: str
    actor_type: str
    actor_id: str
    actor_name: str
    actor_role: str
    target_type: str
    target_id: str
    target_name: str
    outcome: str
    reason: str
    request_id: str
    source_ip: str
    user_agent: str
    details: str
    schema_version: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A tenant's chain: its last record and the retention anchor (the last record deleted)."""

    tenant_id: str
    seq: int
    hash: str
    anchor_seq: int
    anchor_hash: str
    anchor_signature: str


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tenant_id: str
    seq: int
    hash: str
    time: float
    signature: str


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read. ``tenant_ids=None`` means every tenant (operators only)."""

    tenant_ids: tuple[str, ...] | None = None
    actor: str | None = None  # actor id or name
    action: str | None = None  # prefix: "api_key" matches "api_key.create"
    target: str | None = None  # target id or name
    outcome: str | None = None
    since: float | None = None  # inclusive
    until: float | None = None  # exclusive
    text: str | None = None  # case-insensitive substring of details or target name
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeDayRow:
    service: str
    day: str  # YYYY-MM-DD, UTC
    observer: str
    results: int
    failures: int
    observed_ms: int
    down_ms: int
    degraded_ms: int


@dataclass(frozen=True, slots=True)
class BreachRow:
    id: str
    service: str
    observer: str
    started_at: float
    last_failure_at: float
    failures: int
    ended_at: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class FleetChange:
    """The latest change of one topic that every replica must apply (``fleet_changes``)."""

    topic: str  # "config": a reload
    generation: int  # counts the changes of the topic, from 1
    version: str  # what the replica that made it ended up with (the config's content hash)
    origin: str  # that replica's INSTANCE_ID
    changed_at: float


@dataclass(frozen=True, slots=True)
class CustomSeriesRow:
    """The latest sample of one custom metric series (``custom_metric_series``)."""

    tenant_id: str
    name: str
    labels: str  # the tags as canonical JSON: [[name, value], ...] sorted by name
    value: float
    sample_at: float  # the sample's own timestamp: the latest by it wins
    updated_at: float  # when a replica last received a sample of the series (its idle time counts from here)


@dataclass(frozen=True, slots=True)
class EvaluatorLease:
    """Which replica evaluates the rules for the fleet (``evaluator_lease``), since when, until when."""

    holder: str  # its INSTANCE_ID
    since_ms: int  # when it took the lease (renewals keep this)
    expires_ms: int  # it is free after this unless renewed


@dataclass(frozen=True, slots=True)
class FleetEvaluationRow:
    """The fleet's latest evaluation as its evaluator published it (``fleet_evaluation``)."""

    evaluator: str
    t_ms: int
    data: bytes  # msgpack (``monitoring/fleet.py``)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One evaluation's snapshot of the metric families, encoded (``monitoring/durable.py``), by replica."""

    instance: str
    t_ms: int
    data: bytes


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """One in-process alert as its replica last saw it change (labels as canonical JSON text)."""

    instance: str
    alert_id: str
    alertname: str
    severity: str
    labels: str
    state: str  # pending | firing | resolved
    value: float
    active_at_ms: int
    fired_at_ms: int | None
    resolved_at_ms: int | None
    updated_ms: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One replica's run, for one service: it observed the service from ``started_at`` to ``observed_until``
    (its latest heartbeat). Time no session covers was observed by nobody."""

    id: str
    service: str
    observer: str
    started_at: float
    observed_until: float


@dataclass(frozen=True, slots=True)
class SloDayRow:
    """One replica's count of one request SLO's events on one UTC day (``tenant`` is ``''`` unless per tenant)."""

    slo: str
    tenant: str
    day: str
    observer: str
    valid: int
    bad: int


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident on the status page: opened by its source (an alert's episode, a breach), public updates apart."""

    id: str
    source_key: str  # alert:<alert id>:<active since>, breach:<breach id>: at most one open incident per source
    name: str
    impact: str  # major | critical (Statuspage's impact)
    components: str  # JSON list of service names
    status: str  # investigating | identified | resolved
    started_at: float
    updated_at: float
    resolved_at: float | None
    seen_at: float  # when a replica last saw its source going on


@dataclass(frozen=True, slots=True)
class IncidentUpdateRow:
    id: str
    incident_id: str
    status: str
    body: str  # public text
    at: float


@dataclass(frozen=True, slots=True)
class MaintenanceRow:
    """A scheduled maintenance window made through the API (those of monitoring.yml are not stored)."""

    id: str
    name: str
    services: str  # JSON list of service names
    starts_at: float
    ends_at: float
    description: str
    created_by: str  # the key's name
    created_at: float
    cancelled_at: float | None = None
