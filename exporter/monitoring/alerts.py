"""Alert state, advanced the way Prometheus's ``AlertingRule.Eval`` advances it.

At each evaluation a rule's expression yields the series for which it holds. A new series
becomes a *pending* alert (``active_at`` = now); it turns *firing* at the first evaluation where
``now - active_at >= for``; when its series no longer holds, a pending alert is dropped and a
firing one becomes *resolved* (kept 15 minutes for display, as Prometheus keeps it for
Alertmanager). Everything before pending is *inactive*.

An alert's id is the fingerprint of its labels, computed as Prometheus and Alertmanager compute
one (FNV-1a 64 over the sorted names and values, 0xff-separated): stable across evaluations,
restarts and replicas.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from exporter.monitoring.config import AlertRule
from exporter.monitoring.promql import Labels, Vector, prom_round

RESOLVED_RETENTION_MS: Final = 15 * 60_000
_FNV_OFFSET: Final = 0xCBF29CE484222325
_FNV_PRIME: Final = 0x100000001B3
_COMPARE: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus's ``LabelSet.Fingerprint()`` as 16 hex digits."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def holds(rule: AlertRule, values: Vector) -> Vector:
    """The rule's expression: the series for which it holds, with the value Prometheus reports.

    ``round(signal, precision) <op> literal`` keeps the rounded value; ``absent(signal)`` yields
    one series with the signal's selector labels and value 1 when the signal has no value.
    """
    if rule.operator == "absent" or rule.threshold is None:
        return {} if values else {rule.signal.selector: 1.0}
    precision = float(rule.signal.unit.precision)
    compare, threshold = _COMPARE[rule.operator], rule.threshold.number
    out: Vector = {}
    for labels, value in values.items():
        rounded = prom_round(value, precision)
        if compare(rounded, threshold):
            out[labels] = rounded
    return out


@dataclass(slots=True)
class Alert:
    id: str
    rule: AlertRule
    labels: dict[str, str]
    value: float
    state: AlertState
    active_at_ms: int
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.state is not AlertState.RESOLVED


@dataclass(slots=True)
class RuleState:
    """One rule and its alerts."""

    rule: AlertRule
    alerts: dict[str, Alert] = field(default_factory=dict)

    def alert_labels(self, series: Labels) -> dict[str, str]:
        return {**dict(series), **self.rule.labels, "alertname": self.rule.name}

    def eval(self, now_ms: int, results: Vector) -> list[Alert]:
        """Advance to ``now_ms`` given the series for which the rule holds; return alerts that ended."""
        current: set[str] = set()
        for series, value in results.items():
            labels = self.alert_labels(series)
            alert_id = fingerprint(labels)
            current.add(alert_id)
            existing = self.alerts.get(alert_id)
            if existing is not None and existing.active:
                existing.value = value
                continue
            self.alerts[alert_id] = Alert(alert_id, self.rule, labels, value, AlertState.PENDING, now_ms)
        ended: list[Alert] = []
        for alert_id, alert in list(self.alerts.items()):
            if alert_id not in current:
                if alert.state is AlertState.PENDING or (
                    alert.resolved_at_ms is not None and now_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS
                ):
                    del self.alerts[alert_id]
                if alert.active:
                    ended.append(alert)
                    alert.state, alert.resolved_at_ms = AlertState.RESOLVED, now_ms
                continue
            if alert.state is AlertState.PENDING and now_ms - alert.active_at_ms >= self.rule.for_ms:
                alert.state, alert.fired_at_ms = AlertState.FIRING, now_ms
        return ended
