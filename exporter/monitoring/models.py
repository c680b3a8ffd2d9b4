"""The monitoring API's answers: health, metrics and alerts, as ``/api/monitoring/*`` serves them.

Field names and order follow the seed ("Health Monitoring Endpoint", "Monitoring Endpoints
Detail"); fields beyond the seed are additions. Durations are in milliseconds and ratios in
percent, as the seed shows them; ``null`` means no data in the window, never a made-up zero.
"""

from __future__ import annotations

import msgspec

Number = int | float


class HealthAlert(msgspec.Struct):
    severity: str
    message: str
    threshold: Number | None  # in `unit`; null for a no-data rule
    id: str
    alertname: str
    state: str
    value: Number | None  # the value that was compared (rounded to the rule's precision), in `unit`
    unit: str
    since: str
    summary: str
    description: str
    runbook_url: str | None
    acknowledged: bool
    maintenance: str | None = None  # the maintenance window holding it back from Alertmanager and incidents


class ServiceHealth(msgspec.Struct):
    """The latest probe of one service (monitoring.yml ``services``)."""

    up: bool | None  # null before its first probe
    degraded: bool  # up, but slower than its degraded_above
    latency_ms: float | None
    checked_at: str | None
    detail: str


class ConfigState(msgspec.Struct):
    """The configuration this replica runs: with several replicas, every one that has caught up answers the
    same version and generation."""

    version: str  # the content hash of every file in CONFIG_DIR (tenant_exporter_config_info)
    reload_generation: int  # the fleet's reloads applied here (0 before the first)
    last_reload_successful: bool  # false: the last reload found a bad file and kept `version`
    loaded_at: str  # when `version` was read


class EvaluatorOut(msgspec.Struct):
    instance: str  # the replica (INSTANCE_ID) that evaluates the alert rules for every replica
    since: str | None  # when it took that over (null for a single replica on SQLite)


class ReplicaHealth(msgspec.Struct):
    cpu_usage: float | None  # %, averaged over the window
    memory_usage: float | None  # %
    uptime: float | None  # % of successful probes of its own API


class HealthOut(msgspec.Struct):
    status: str  # healthy | degraded (a warning is firing) | unhealthy (an error is firing)
    response_time: float | None  # average, ms
    error_rate: float | None  # %
    uptime: float | None  # % of successful API probes
    active_users: int  # distinct API keys seen in the window (the caller's tenant; operators: all)
    cpu_usage: float | None  # % (host, averaged over the window)
    memory_usage: float | None  # %
    alerts: list[HealthAlert]
    timestamp: str
    window_seconds: float
    evaluated_at: str | None
    services: dict[str, ServiceHealth]  # every probed service: api, database, and the configured ones
    config: ConfigState | None = None
    evaluator: EvaluatorOut | None = None  # null until the first evaluation
    # the per-replica signals of every replica in the window (cpu_usage and memory_usage above are the highest,
    # uptime the lowest); one entry, this replica, when it runs alone
    replicas: dict[str, ReplicaHealth] = msgspec.field(default_factory=dict)


class LatencyOut(msgspec.Struct):
    average: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class RouteOut(msgspec.Struct):
    method: str
    route: str
    requests_per_second: float
    error_rate: float | None
    response_time: LatencyOut


class MetricsOut(msgspec.Struct):
    response_time: LatencyOut  # ms; percentiles by histogram_quantile's interpolation over the buckets
    error_rate: float | None
    uptime: float | None
    active_users: int
    cpu_usage: float | None
    memory_usage: float | None
    requests_per_second: float | None
    routes: list[RouteOut]
    window_seconds: float
    timestamp: str
    evaluated_at: str | None


class Acknowledgement(msgspec.Struct):
    acknowledged_by: str  # the API key's name
    key_id: str
    tenant_id: str
    acknowledged_at: str
    comment: str
    silence_id: str | None = None  # the Alertmanager silence mirroring it (ALERTMANAGER_URL), once created
    public_message: str = ""  # what the status page shows of it ('' : the default text)


class AlertOut(msgspec.Struct):
    id: str
    rule: str
    severity: str
    state: str  # pending | firing (| resolved, with ?include_resolved=true)
    signal: str
    value: Number | None
    threshold: Number | None
    operator: str
    unit: str
    since: str  # when it became active (pending)
    fired_at: str | None
    resolved_at: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    acknowledged: bool  # for every caller; who acknowledged, and why, only for operators
    acknowledgement: Acknowledgement | None  # operators only: the record; null for tenant keys
    maintenance: str | None = None  # the maintenance window holding it back from Alertmanager and incidents


class AlertsOut(msgspec.Struct):
    alerts: list[AlertOut]
    evaluated_at: str | None
