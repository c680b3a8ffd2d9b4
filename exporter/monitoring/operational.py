"""``operational_alerts:`` of monitoring.yml -> alerts only Prometheus evaluates (``rules/operations.yml``).

Written like the threshold rules (name, signal, operator, threshold, ``for``, severity, summary,
description), over the signals of ``operational_signals.py``, plus ``match`` (label values an
alert is restricted to, e.g. ``enforcement: hard``). Summaries and descriptions may use
Prometheus's templates (``{{ $labels.tenant }}``, ``{{ $value | humanizePercentage }}``): only
Prometheus shows them. Severity ``critical`` (or ``error``) pages, ``warning`` opens a ticket, as
the shipped Alertmanager configurations route them. A ``runbook_url`` left out points at the
alert's section of docs/runbooks.md (``runbook_base_url`` + ``#`` + the name in lower case).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import msgspec

from exporter.core.durations import parse_duration
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc
from exporter.monitoring.operational_signals import OPS_SIGNALS, OpsSignal

SEVERITIES: Final = ("warning", "error", "critical")
OPERATORS: Final = (">", ">=", "<", "<=", "==", "!=")
_NAME = whole(r"[A-Z][A-Za-z0-9]*")
_LABEL_VALUE = whole(r"[A-Za-z0-9_.:-]+")
_NUMBER = whole(r"-?\d+(?:\.\d+)?")
_PERCENT = whole(r"\s*(?P<number>\d+(?:\.\d+)?)\s*%\s*")
_URL = whole(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class OpsAlert:
    name: str
    signal: OpsSignal
    operator: str
    threshold: Decimal
    match: tuple[tuple[str, str], ...]
    for_ms: int
    severity: str
    summary: str
    description: str
    runbook_url: str

    @property
    def literal(self) -> str:
        """The threshold as one exact decimal literal (``0.8``, ``1``)."""
        text = format(self.threshold.normalize(), "f")
        return "0" if text == "-0" else text

    @property
    def labels(self) -> dict[str, str]:
        return {"severity": self.severity, "signal": self.signal.name}

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}


class _AlertSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    signal: str
    operator: str
    threshold: str | int | float
    severity: str
    summary: str
    description: str
    for_: str = msgspec.field(name="for", default="0s")
    match: dict[str, str] | None = None
    runbook_url: str | None = None


def runbook_url(base: str, name: str) -> str:
    """An alert's section of docs/runbooks.md: headings are alert names, anchors their lower case."""
    return f"{base}#{name.lower()}"


def load_operational(doc: YamlDoc, raw: Any, runbook_base: str, taken: set[str]) -> tuple[OpsAlert, ...]:
    """Every entry of ``operational_alerts:`` (``taken``: the threshold rules' names, which these may not reuse)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        doc.issue(("operational_alerts",), "expected a list of alerts")
        return ()
    out: list[OpsAlert] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(raw):
        where: PathT = ("operational_alerts", i)
        alert = _alert(doc, where, entry, runbook_base)
        if alert is None:
            continue
        if alert.name in taken:
            doc.issue((*where, "name"), f"{alert.name!r} is already the name of a rule in `rules:`")
        elif (alert.name, alert.severity) in seen:
            doc.issue((*where, "name"), f"another operational alert is already named {alert.name!r} with severity "
                                        f"{alert.severity!r}")
        seen.add((alert.name, alert.severity))
        out.append(alert)
    return tuple(out)


def _alert(doc: YamlDoc, where: PathT, raw: Any, runbook_base: str) -> OpsAlert | None:
    spec = doc.convert(raw, _AlertSpec, where)
    if spec is None:
        return None
    before = len(doc.issues)
    if not _NAME.fullmatch(spec.name):
        doc.issue((*where, "name"), "alert names are CamelCase: a capital letter, then letters and digits")
    signal = OPS_SIGNALS.get(spec.signal)
    if signal is None:
        doc.issue((*where, "signal"), f"unknown signal {spec.signal!r} (known: {', '.join(OPS_SIGNALS)})")
    if spec.operator not in OPERATORS:
        doc.issue((*where, "operator"), f"must be one of {', '.join(OPERATORS)} (quote it: \">=\")")
    if spec.severity not in SEVERITIES:
        doc.issue((*where, "severity"), f"must be one of {', '.join(SEVERITIES)}")
    for field in ("summary", "description"):
        if not getattr(spec, field).strip():
            doc.issue((*where, field), "must not be empty")
    if spec.runbook_url is not None and not _URL.fullmatch(spec.runbook_url):
        doc.issue((*where, "runbook_url"), "must be an absolute http(s) URL")
    for_ms = _for(doc, (*where, "for"), spec.for_)
    threshold = _threshold(doc, (*where, "threshold"), spec.threshold, signal) if signal else None
    match = _match(doc, (*where, "match"), spec.match or {}, signal) if signal else ()
    if len(doc.issues) > before or signal is None or threshold is None:
        return None
    return OpsAlert(spec.name, signal, spec.operator, threshold, match, for_ms, spec.severity, spec.summary.strip(),
                    spec.description.strip(), spec.runbook_url or runbook_url(runbook_base, spec.name))


def _for(doc: YamlDoc, where: PathT, text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as e:
        doc.issue(where, str(e))
        return 0


def _threshold(doc: YamlDoc, where: PathT, raw: str | int | float, signal: OpsSignal) -> Decimal | None:
    text = str(raw).strip()
    try:
        if signal.unit == "ratio":
            match = _PERCENT.fullmatch(text)
            if match is None:
                raise ValueError
            return Decimal(match.group("number")) / 100
        if signal.unit == "seconds":
            return Decimal(parse_duration(text)) / 1000
        if isinstance(raw, bool) or not _NUMBER.fullmatch(text):
            raise ValueError
        return Decimal(text)
    except (ValueError, InvalidOperation):
        example = {"ratio": "80%", "seconds": "1s or 500ms", "count": "0 or 1"}[signal.unit]
        doc.issue(where, f"{signal.name} is a {signal.unit}: write e.g. {example}; got {raw!r}")
        return None


def _match(doc: YamlDoc, where: PathT, match: dict[str, str], signal: OpsSignal) -> tuple[tuple[str, str], ...]:
    for label, value in match.items():
        if label not in signal.labels:
            doc.issue((*where, label), f"{signal.name} has no label {label!r} (labels: {', '.join(signal.labels)})")
        elif not _LABEL_VALUE.fullmatch(value):
            doc.issue((*where, label), "a plain label value (letters, digits, '_', '.', ':', '-')")
    return tuple(sorted(match.items()))
