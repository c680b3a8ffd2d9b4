"""What opens incidents, described once: a firing ``error`` alert, and a breach (probes, or a gap nobody observed).

Each ``Source`` carries its public texts: the first update, the ``identified`` one once its alert is
acknowledged (the operator's public message, or a fixed sentence), and the closing one. Nothing
private reaches them: no key, no name, no comment, only the rule's summary and the figures that
every reader of ``/api/monitoring/health`` sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from exporter.monitoring.alerts import AlertState
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.services import ServiceConfig
from exporter.sla.breaches import Breach
from exporter.sla.tracker import SlaTracker

IDENTIFIED = "The cause has been identified and is being worked on."
ALERTS_ABOUT = "api"  # in-process alerts watch this process, i.e. the API (unless labelled with another service)


@dataclass(frozen=True, slots=True)
class Source:
    key: str  # alert:<id>, breach:<id>: one open incident per key
    name: str
    impact: str  # major (partial_outage) | critical (major_outage)
    components: tuple[str, ...]
    started_at: float
    ended_at: float | None  # None while it goes on
    opening: str
    closing: str
    identified: str | None = None  # the identified update, once acknowledged


def duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def _shown(value: float, scale: Decimal) -> str:
    scaled = Decimal(repr(value)) * scale
    return format(scaled.normalize(), "f")


def alert_sources(engine: AlertEngine) -> list[Source]:
    """Error alerts that fired: going on, or resolved in the last 15 minutes."""
    out = []
    for alert in engine.alerts(include_resolved=True):
        rule = alert.rule
        if rule.severity != "error" or alert.fired_at_ms is None:
            continue
        unit = rule.signal.unit
        if rule.threshold is None:
            figure = f"{rule.signal.title} has no data"
        else:
            figure = (f"{rule.signal.title} is {_shown(alert.value, unit.display_scale)}{unit.display} "
                      f"({rule.operator} {_shown(float(rule.threshold.value), unit.display_scale)}{unit.display})")
        started = alert.fired_at_ms / 1000
        ended = None if alert.active else (alert.resolved_at_ms or alert.fired_at_ms) / 1000
        ack = engine.acknowledgement(alert)
        out.append(Source(
            f"alert:{alert.id}", rule.summary, "major", (alert.labels.get("service", ALERTS_ABOUT),), started, ended,
            f"{rule.summary}: {figure}. We are investigating.",
            f"Resolved after {duration((ended or started) - started)}: {rule.summary} no longer holds.",
            None if ack is None or alert.state is not AlertState.FIRING else (ack.public_message or IDENTIFIED),
        ))
    return out


def breach_sources(breaches: Sequence[Breach], services: Sequence[ServiceConfig]) -> list[Source]:
    by_name = {s.name: s for s in services}
    out = []
    for b in breaches:
        service = by_name.get(b.service)
        if service is None:
            continue
        title, lasted = service.title, duration((b.ended_at or b.last_failure_at) - b.started_at)
        if b.failures == 0:  # nobody observed the service: it was not running
            out.append(Source(f"breach:{b.id}", f"{title} unavailable", "critical", (b.service,), b.started_at,
                              b.ended_at, f"{title} was not running: no replica answered or observed it.",
                              f"{title} is running again, after {lasted} unavailable."))
            continue
        out.append(Source(f"breach:{b.id}", f"{title} outage", "critical", (b.service,), b.started_at, b.ended_at,
                          f"{title} is not answering its probes ({b.detail}).",
                          f"{title} answers its probes again, after {lasted} down ({b.failures} failed probes)."))
    return out


class IncidentSources:
    """Every source as of now: the evaluator's error alerts and the tracker's breaches (merged across replicas)."""

    def __init__(self, engine: AlertEngine, tracker: SlaTracker, monitoring: Callable[[], MonitoringConfig]) -> None:
        self._engine = engine
        self._tracker = tracker
        self._monitoring = monitoring

    def __call__(self) -> list[Source]:
        breaches = self._tracker.snapshot().breaches
        return [*alert_sources(self._engine), *breach_sources(breaches, self._monitoring().services)]
