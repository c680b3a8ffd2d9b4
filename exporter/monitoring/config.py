"""monitoring.yml -> MonitoringConfig: the one source of every alert threshold.

A threshold is written as a person writes it (``1000ms``, ``5%``) and parsed with ``Decimal``
into the signal's base unit; its canonical literal (``1``, ``0.05``) is what the generated PromQL
contains and what the in-process evaluator parses with ``float()``, so both compare against the
same IEEE double (Go's ``ParseFloat`` and Python's ``float`` both round correctly). A threshold
finer than the signal's comparison precision is refused: it could never be told apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from exporter.core.durations import duration_field, format_duration
from exporter.core.errors import ConfigError
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc, load_yaml, raise_if_issues
from exporter.monitoring.maintenance import MaintenanceWindow, load_maintenance
from exporter.monitoring.operational import OpsAlert, load_operational, runbook_url
from exporter.monitoring.services import ServiceConfig, SlaSettings, SlaSpec, load_services, load_sla
from exporter.monitoring.signals import SIGNALS, Signal
from exporter.monitoring.slos import RequestSlo, load_slos

SUPPORTED_VERSION: Final = 1
FILE_NAME: Final = "monitoring.yml"
OPERATORS: Final = (">", ">=", "<", "<=", "absent")
SEVERITIES: Final = ("warning", "error")
RUNBOOKS: Final = "https://github.com/tenant-exporter/tenant-exporter/blob/main/docs/runbooks.md"
_ALERT_NAME = whole(r"[A-Z][A-Za-z0-9]*")
_JOB = whole(r"[A-Za-z0-9_.:-]+")
_THRESHOLD = whole(r"\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<suffix>[a-z%]+)\s*")
_URL = whole(r"https?://\S+")

Operator = Literal[">", ">=", "<", "<=", "absent"]


@dataclass(frozen=True, slots=True)
class Threshold:
    text: str  # as written: "1000ms"
    value: Decimal  # in the signal's base unit: Decimal("1")

    @property
    def literal(self) -> str:
        """The one literal both evaluators use: ``1``, ``0.05``, ``0.99``."""
        return format(self.value.normalize(), "f")

    @property
    def number(self) -> float:
        return float(self.literal)


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    signal: Signal
    operator: Operator
    threshold: Threshold | None  # None for `absent`
    for_ms: int
    severity: str
    summary: str
    description: str
    runbook_url: str  # as written, else the rule's section of docs/runbooks.md

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.severity)

    @property
    def labels(self) -> dict[str, str]:
        """Labels the rule adds to its alerts (besides ``alertname`` and the series' own)."""
        return {"severity": self.severity, "signal": self.signal.name}

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    interval_ms: int
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class CustomMetricLimits:
    max_series_per_tenant: int
    max_series_total: int
    max_labels: int
    series_ttl_ms: int
    max_sample_age_ms: int
    max_sample_future_ms: int


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    evaluation_interval_ms: int
    window_ms: int
    job: str
    rules: tuple[AlertRule, ...]
    probes: ProbeSettings
    custom_metrics: CustomMetricLimits
    file: str
    digest: str
    services: tuple[ServiceConfig, ...] = ()
    sla: SlaSettings = dataclasses.field(default_factory=lambda: SlaSettings(2, 60_000, 20))
    operational: tuple[OpsAlert, ...] = ()  # operational_alerts: Prometheus only (rules/operations.yml)
    runbook_base_url: str = RUNBOOKS
    slos: tuple[RequestSlo, ...] = ()  # request-based and latency SLOs of the API
    maintenance: tuple[MaintenanceWindow, ...] = ()  # scheduled windows (the API adds stored ones)

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def window(self) -> str:
        return format_duration(self.window_ms)


class _RuleSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    signal: str
    operator: str
    severity: str
    summary: str
    threshold: str | int | float | None = None  # a bare number is refused with a helpful message
    for_: str = msgspec.field(name="for", default="0s")
    description: str = ""
    runbook_url: str | None = None


class _PrometheusSpec(msgspec.Struct, forbid_unknown_fields=True):
    job: str = "tenant-exporter"


class _ProbesSpec(msgspec.Struct, forbid_unknown_fields=True):
    interval: str = "15s"
    timeout: str = "2s"


class _CustomSpec(msgspec.Struct, forbid_unknown_fields=True):
    max_series_per_tenant: int = 1000
    max_series_total: int = 20_000
    max_labels: int = 16
    series_ttl: str = "1h"
    max_sample_age: str = "10y"
    max_sample_future: str = "5m"


class _TopSpec(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    evaluation_interval: str
    window: str
    rules: list[Any]
    prometheus: _PrometheusSpec = msgspec.field(default_factory=_PrometheusSpec)
    probes: _ProbesSpec = msgspec.field(default_factory=_ProbesSpec)
    custom_metrics: _CustomSpec = msgspec.field(default_factory=_CustomSpec)
    services: dict[str, Any] | None = None
    sla: SlaSpec = msgspec.field(default_factory=SlaSpec)
    runbook_base_url: str = RUNBOOKS
    operational_alerts: list[Any] | None = None
    slos: list[Any] | None = None
    maintenance: list[Any] | None = None


def load_monitoring(config_dir: Path) -> MonitoringConfig:
    """Read and validate ``monitoring.yml``; raise ConfigError with file:line:field for every problem."""
    path = config_dir / FILE_NAME
    doc = load_yaml(path)
    top = doc.convert(doc.data, _TopSpec, ())
    if top is None:
        raise ConfigError(doc.issues)
    if top.version != SUPPORTED_VERSION:
        doc.issue(("version",), f"must be {SUPPORTED_VERSION} (got {top.version!r})")
    interval = duration_field(doc, ("evaluation_interval",), top.evaluation_interval, minimum=1000)
    window = duration_field(doc, ("window",), top.window, minimum=1000)
    if interval and window and window < 2 * interval:
        doc.issue(("window",), f"must be at least twice evaluation_interval ({format_duration(2 * interval)}) "
                               "so that a rate has two samples")
    if not _JOB.fullmatch(top.prometheus.job):
        doc.issue(("prometheus", "job"), "must be a plain job name (letters, digits, '_', '.', ':', '-')")
    if not _URL.fullmatch(top.runbook_base_url):
        doc.issue(("runbook_base_url",), "must be an absolute http(s) URL (where docs/runbooks.md is published)")
    rules = tuple(rule for i, raw in enumerate(top.rules)
                  if (rule := _rule(doc, ("rules", i), raw, top.runbook_base_url)) is not None)
    seen: set[tuple[str, str]] = set()
    for i, rule in enumerate(rules):
        if rule.key in seen:
            doc.issue(("rules", i, "name"), f"another rule is already named {rule.name!r} with severity "
                                            f"{rule.severity!r}")
        seen.add(rule.key)
    probes = ProbeSettings(
        duration_field(doc, ("probes", "interval"), top.probes.interval, minimum=1000),
        duration_field(doc, ("probes", "timeout"), top.probes.timeout, minimum=1),
    )
    custom = _custom(doc, top.custom_metrics)
    services = load_services(doc, top.services, probes.interval_ms, probes.timeout_ms)
    sla = load_sla(doc, top.sla)
    operational = load_operational(doc, top.operational_alerts, top.runbook_base_url, {r.name for r in rules})
    slos = load_slos(doc, top.slos)
    maintenance = load_maintenance(doc, top.maintenance, [s.name for s in services])
    raise_if_issues(doc)
    return MonitoringConfig(
        evaluation_interval_ms=interval, window_ms=window, job=top.prometheus.job, rules=rules, probes=probes,
        custom_metrics=custom, file=str(path), digest=hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        services=services, sla=sla, operational=operational, runbook_base_url=top.runbook_base_url, slos=slos,
        maintenance=maintenance,
    )


def _rule(doc: YamlDoc, where: PathT, raw: Any, runbooks: str) -> AlertRule | None:
    spec = doc.convert(raw, _RuleSpec, where)
    if spec is None:
        return None
    before = len(doc.issues)
    if not _ALERT_NAME.fullmatch(spec.name):
        doc.issue((*where, "name"), "alert names are CamelCase: a capital letter, then letters and digits")
    signal = SIGNALS.get(spec.signal)
    if signal is None:
        doc.issue((*where, "signal"), f"unknown signal {spec.signal!r} (known: {', '.join(SIGNALS)})")
    if spec.operator not in OPERATORS:
        doc.issue((*where, "operator"), f"must be one of {', '.join(OPERATORS)} (quote it: \">\")")
    if spec.severity not in SEVERITIES:
        doc.issue((*where, "severity"), f"must be one of {', '.join(SEVERITIES)}")
    if not spec.summary.strip():
        doc.issue((*where, "summary"), "must not be empty")
    for field, text in (("summary", spec.summary), ("description", spec.description)):
        if "{{" in text:  # both evaluators must show the same text; templates would be Prometheus-only
            doc.issue((*where, field), "templates ({{ ... }}) are not supported: write plain text")
    if spec.runbook_url is not None and not _URL.fullmatch(spec.runbook_url):
        doc.issue((*where, "runbook_url"), "must be an absolute http(s) URL")
    for_ms = duration_field(doc, (*where, "for"), spec.for_, minimum=0)
    threshold = None
    if spec.operator == "absent":
        if spec.threshold is not None:
            doc.issue((*where, "threshold"), "an `absent` rule has no threshold")
    elif spec.threshold is None:
        doc.issue((*where, "threshold"), "required field is missing")
    elif signal is not None:
        threshold = _threshold(doc, (*where, "threshold"), str(spec.threshold), signal)
    if len(doc.issues) > before or signal is None:
        return None
    description = spec.description.strip() or _default_description(spec, signal)
    return AlertRule(spec.name, signal, spec.operator, threshold, for_ms, spec.severity,  # type: ignore[arg-type]
                     spec.summary.strip(), description, spec.runbook_url or runbook_url(runbooks, spec.name))


def _default_description(spec: _RuleSpec, signal: Signal) -> str:
    if spec.operator == "absent":
        return f"{signal.title} has had no data for {spec.for_}."
    return f"{signal.title} {spec.operator} {spec.threshold} for {spec.for_}."


def _threshold(doc: YamlDoc, where: PathT, text: str, signal: Signal) -> Threshold | None:
    unit = signal.unit
    match = _THRESHOLD.fullmatch(text)
    suffix = match.group("suffix") if match else ""
    if match is None or suffix not in unit.suffixes:
        doc.issue(where, f"write a {unit.name} threshold with its unit ({' or '.join(unit.suffixes)}), "
                         f"e.g. {unit.example!r}; got {text!r}")
        return None
    try:
        value = Decimal(match.group("number")) * unit.suffixes[suffix]
    except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
        doc.issue(where, f"{text!r} is not a number")
        return None
    if value % unit.precision != 0:
        doc.issue(where, f"{text!r} is finer than this signal's comparison precision "
                         f"({format((unit.precision * unit.display_scale).normalize(), 'f')}{unit.display})")
        return None
    if unit.name == "ratio" and value > 1:
        doc.issue(where, f"{text!r} is more than 100%")
        return None
    return Threshold(text.strip(), value)


def _custom(doc: YamlDoc, spec: _CustomSpec) -> CustomMetricLimits:
    where: PathT = ("custom_metrics",)
    for field, most in (("max_series_per_tenant", 10_000_000), ("max_series_total", 10_000_000), ("max_labels", 16)):
        value = getattr(spec, field)
        if not 1 <= value <= most:
            doc.issue((*where, field), f"must be between 1 and {most}")
    return CustomMetricLimits(
        spec.max_series_per_tenant, spec.max_series_total, spec.max_labels,
        duration_field(doc, (*where, "series_ttl"), spec.series_ttl, minimum=1000),
        duration_field(doc, (*where, "max_sample_age"), spec.max_sample_age, minimum=1000),
        duration_field(doc, (*where, "max_sample_future"), spec.max_sample_future, minimum=0),
    )
