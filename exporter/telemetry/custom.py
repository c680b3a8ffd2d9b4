"""Custom metrics posted by tenants' services, exported on ``/metrics`` with their tags as labels.

``{"name": "case_processing_time", "value": 234, "tags": {"case_type": "fraud"}}`` from tenant
``acme`` becomes ``tenant_exporter_custom_case_processing_time{case_type="fraud",tenant="acme"} 234``
(a gauge: the latest value of each series). The prefix keeps tenants out of every other metric's
name space; ``tenant`` always comes from the API key, never from the body.

Nothing is silently dropped: a sample is recorded, or refused with a 4xx that says why, and
counted in ``tenant_exporter_custom_samples_rejected_total{tenant,reason}``. Memory is bounded:
at most ``max_series_per_tenant`` series per tenant and ``max_series_total`` overall (past
either, new series get 429 while existing ones still update), at most ``max_labels`` tags of at
most 1 KiB together, and a series not updated for ``series_ttl`` stops being exported.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.core.clock import Clock
from exporter.core.errors import Conflict, TooManyRequests, ValidationFailed
from exporter.core.parsing import schema_pattern, whole
from exporter.monitoring.config import CustomMetricLimits

PREFIX: Final = "tenant_exporter_custom_"
REASONS: Final = ("invalid_body", "invalid_name", "invalid_labels", "invalid_value", "invalid_timestamp",
                  "reserved_name", "reserved_label", "out_of_order", "series_limit")
NAME_PATTERN: Final = schema_pattern("[a-zA-Z_][a-zA-Z0-9_]*")  # no colons: they are for recording rules
LABEL_PATTERN: Final = NAME_PATTERN
MAX_NAME_LENGTH: Final = 100
MAX_LABEL_NAME: Final = 64
MAX_LABEL_VALUE: Final = 256
MAX_TAGS: Final = 16  # the most monitoring.yml's max_labels may allow
MAX_TAG_CHARACTERS: Final = 1024
_NAME = _LABEL = whole("[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_SUFFIXES: Final = ("_total", "_created", "_count", "_sum", "_bucket", "_info", "_gcount", "_gsum")
_RESERVED_LABELS: Final = frozenset({"tenant", "job", "instance", "le", "quantile"})
# our own families under the prefix; a custom name must not shadow them
_OWN: Final = frozenset({"series", "series_limit", "samples_rejected", "samples_recorded"})

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Recorded:
    name: str
    exported_as: str
    value: float
    labels: dict[str, str]
    timestamp: float


@dataclass(slots=True)
class _Series:
    value: float
    timestamp: float
    updated_at: float


class CustomMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, clock: Clock, limits: Callable[[], CustomMetricLimits]) -> None:
        self._clock = clock
        self._limits = limits
        self._lock = threading.Lock()  # collect() may run on a rendering thread
        self._series: dict[str, dict[tuple[str, Labels], _Series]] = {}
        self._total = 0
        self._dirty: set[tuple[str, str, Labels]] = set()  # updated here since the last ``take_dirty``
        # No series can expire before this (a lower bound: updates only make series younger), so a
        # flood of refused requests does not rescan every series each time.
        self._next_expiry = math.inf
        self._ttl_ms = 0
        self.rejected = Counter(
            "tenant_exporter_custom_samples_rejected_total",
            "Custom metric samples refused, by tenant and reason (each was answered with a 4xx).",
            ["tenant", "reason"], registry=registry,
        )
        self.recorded = Counter("tenant_exporter_custom_samples_recorded_total", "Custom metric samples recorded.",
                                ["tenant"], registry=registry)
        registry.register(self)

    def reject(self, tenant_id: str, reason: str) -> None:
        self.rejected.labels(tenant_id, reason).inc()

    def record(self, tenant_id: str, name: str, value: float, tags: Mapping[str, str],
               timestamp: datetime | None) -> Recorded:
        """Validate and store one sample; raise a 4xx ProblemError (and count it) when refused."""
        limits, now = self._limits(), self._clock.now()
        try:
            self._check_name(name)
            labels = self._check_tags(tags, limits)
            if not math.isfinite(value):
                raise _Refused("invalid_value", "value must be a finite number")
            at = self._check_timestamp(timestamp, now, limits)
            return self._store(tenant_id, name, labels, value, at, now, limits)
        except _Refused as e:
            self.reject(tenant_id, e.reason)
            raise e.problem from None

    @staticmethod
    def _check_name(name: str) -> None:
        if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
            raise _Refused("invalid_name", f"name must match [a-zA-Z_][a-zA-Z0-9_]* (at most {MAX_NAME_LENGTH} "
                                           f"characters, no colons); got {name!r}", "/name")
        if name.endswith(_RESERVED_SUFFIXES) or name in _OWN or name.startswith("__"):
            raise _Refused("reserved_name", f"name {name!r} collides with a reserved name (the suffixes "
                                            f"{', '.join(_RESERVED_SUFFIXES)}, a leading __, or one of this "
                                            "service's own metrics)", "/name", status=409)

    @staticmethod
    def _check_tags(tags: Mapping[str, str], limits: CustomMetricLimits) -> Labels:
        if len(tags) > min(limits.max_labels, MAX_TAGS):
            raise _Refused("invalid_labels", f"at most {min(limits.max_labels, MAX_TAGS)} tags", "/tags")
        size = 0
        for key, val in tags.items():
            if len(key) > MAX_LABEL_NAME or not _LABEL.fullmatch(key) or len(val) > MAX_LABEL_VALUE:
                raise _Refused("invalid_labels", f"tag {key!r} must match [a-zA-Z_][a-zA-Z0-9_]* (at most "
                                                 f"{MAX_LABEL_NAME} characters), its value at most "
                                                 f"{MAX_LABEL_VALUE} characters", f"/tags/{key}")
            if key.startswith("__") or key in _RESERVED_LABELS:
                raise _Refused("reserved_label", f"tag {key!r} collides with a label Prometheus or this service "
                                                 f"sets ({', '.join(sorted(_RESERVED_LABELS))}, or a leading __)",
                               f"/tags/{key}", status=409)
            size += len(key) + len(val)
        if size > MAX_TAG_CHARACTERS:
            raise _Refused("invalid_labels", f"tags are longer than {MAX_TAG_CHARACTERS} characters together",
                           "/tags")
        return tuple(sorted(tags.items()))

    @staticmethod
    def _check_timestamp(when: datetime | None, now: float, limits: CustomMetricLimits) -> float:
        if when is None:
            return now
        if when.tzinfo is None:
            raise _Refused("invalid_timestamp", "timestamp must be RFC 3339 with a time zone "
                                                "(2024-03-15T10:30:00Z)", "/timestamp")
        at = when.timestamp()
        if not now - limits.max_sample_age_ms / 1000 <= at <= now + limits.max_sample_future_ms / 1000:
            raise _Refused("invalid_timestamp", f"timestamp {when.isoformat()} is outside the accepted range (from "
                                                f"{limits.max_sample_age_ms // 1000} s ago to "
                                                f"{limits.max_sample_future_ms // 1000} s ahead)", "/timestamp")
        return at

    def _store(self, tenant_id: str, name: str, labels: Labels, value: float, at: float, now: float,
               limits: CustomMetricLimits) -> Recorded:
        key = (name, labels)
        with self._lock:
            series = self._series.setdefault(tenant_id, {})
            existing = series.get(key)
            if existing is None:
                self._make_room(tenant_id, series, now, limits)
                self._total += 1
                series[key] = _Series(value, at, now)
                self._next_expiry = min(self._next_expiry, now + limits.series_ttl_ms / 1000)
            elif at < existing.timestamp:
                raise _Refused("out_of_order", f"a newer sample of this series is recorded "
                                               f"(timestamp {existing.timestamp}); send samples in order", "",
                               status=409)
            else:
                existing.value, existing.timestamp, existing.updated_at = value, at, now
            self._dirty.add((tenant_id, name, labels))
        self.recorded.labels(tenant_id).inc()
        return Recorded(name, PREFIX + name, value, dict(labels), at)

    def _make_room(self, tenant_id: str, series: dict[tuple[str, Labels], _Series], now: float,
                   limits: CustomMetricLimits) -> None:
        """Expire idle series if at a cap; refuse the new series if still at it."""
        at_cap = len(series) >= limits.max_series_per_tenant or self._total >= limits.max_series_total
        if at_cap and (now >= self._next_expiry or limits.series_ttl_ms != self._ttl_ms):
            self._expire(now, limits)
        per_tenant = len(series) >= limits.max_series_per_tenant
        if per_tenant or self._total >= limits.max_series_total:
            retry = max(1, math.ceil(min(self._next_expiry, now + limits.series_ttl_ms / 1000) - now))
            cap = (f"tenant {tenant_id!r} has {len(series)} custom series, its limit" if per_tenant
                   else f"the service holds {self._total} custom series, its limit")
            raise _Refused("series_limit", f"{cap}; existing series still update, new ones are refused until "
                                           f"one expires (after {limits.series_ttl_ms // 1000} s without update)",
                           "", status=429, retry_after=retry)

    def _expire(self, now: float, limits: CustomMetricLimits) -> None:
        ttl = limits.series_ttl_ms / 1000
        oldest = math.inf
        for series in self._series.values():
            stale = [key for key, s in series.items() if s.updated_at < now - ttl]
            for key in stale:
                del series[key]
            self._total -= len(stale)
            oldest = min(oldest, min((s.updated_at for s in series.values()), default=math.inf))
        self._next_expiry, self._ttl_ms = oldest + ttl, limits.series_ttl_ms

    def take_dirty(self) -> list[tuple[str, str, Labels, float, float, float]]:
        """The series updated here since the last call: ``(tenant, name, labels, value, timestamp, updated_at)``."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            out = []
            for tenant_id, name, labels in dirty:
                s = self._series.get(tenant_id, {}).get((name, labels))
                if s is not None:
                    out.append((tenant_id, name, labels, s.value, s.timestamp, s.updated_at))
        return out

    def requeue(self, keys: list[tuple[str, str, Labels]]) -> None:
        """Series whose write failed: written with the next batch."""
        with self._lock:
            self._dirty.update(keys)

    def merge(self, tenant_id: str, name: str, labels: Labels, value: float, at: float, updated_at: float) -> None:
        """A series' latest sample as another replica (or this one, before a restart) received it: kept when it
        is newer by its timestamp (or as new, when the caps leave room)."""
        limits = self._limits()
        with self._lock:
            series = self._series.setdefault(tenant_id, {})
            existing = series.get((name, labels))
            if existing is None:
                if len(series) < limits.max_series_per_tenant and self._total < limits.max_series_total:
                    series[(name, labels)] = _Series(value, at, updated_at)
                    self._total += 1
                    self._next_expiry = min(self._next_expiry, updated_at + limits.series_ttl_ms / 1000)
            elif at > existing.timestamp or (at == existing.timestamp and value != existing.value):
                existing.value, existing.timestamp = value, at
                existing.updated_at = max(existing.updated_at, updated_at)

    def describe(self) -> list[Metric]:
        return []  # dynamic names; registered without names so snapshots (restricted_registry) skip it

    def collect(self) -> Iterator[Metric]:
        limits = self._limits()
        fresh = self._clock.now() - limits.series_ttl_ms / 1000
        with self._lock:
            rows = [(tenant, name, labels, s.value) for tenant, series in self._series.items()
                    for (name, labels), s in series.items() if s.updated_at >= fresh]
            counts = {tenant: len(series) for tenant, series in self._series.items()}
        families: dict[str, Metric] = {}
        for tenant, name, labels, value in sorted(rows):
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(PREFIX + name, "Custom metric posted to "
                                                 "/api/monitoring/metrics/custom (latest value).", "gauge")
            family.add_sample(PREFIX + name, {**dict(labels), "tenant": tenant}, value)
        yield from families.values()
        series = GaugeMetricFamily("tenant_exporter_custom_series",
                                   "Custom metric series held (idle ones included until deleted), by tenant.",
                                   labels=["tenant"])
        for tenant, n in sorted(counts.items()):
            series.add_metric([tenant], n)
        yield series
        yield GaugeMetricFamily("tenant_exporter_custom_series_limit", "Custom metric series allowed per tenant.",
                                value=limits.max_series_per_tenant)


class _Refused(Exception):
    def __init__(self, reason: str, detail: str, pointer: str = "", *, status: int = 422,
                 retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        extra = {"reason": reason}
        if status == 409:
            slug = "out-of-order" if reason == "out_of_order" else "reserved-name"
            self.problem: ValidationFailed | Conflict | TooManyRequests = Conflict(
                detail, slug=slug, extra={**extra, "errors": [{"detail": detail, "pointer": f"#{pointer}"}]})
        elif status == 429:
            self.problem = TooManyRequests(detail, slug="custom-series-limit", extra=extra,
                                           headers={"Retry-After": str(retry_after or 1)})
        else:
            errors = [{"detail": detail, "pointer": f"#{pointer}"}]
            self.problem = ValidationFailed(detail, slug="invalid-custom-metric", extra={**extra, "errors": errors})
