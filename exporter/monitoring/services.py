"""``services:`` and ``sla:`` of monitoring.yml -> the probed services, their SLA targets, breach rules.

Two services are built in and always probed: ``api`` (the service's own ``/-/ready``, as the
``uptime`` signal always did) and ``database`` (a store ping). More are HTTP probes (``url``,
``expected_status``) or TCP probes (``address: host:port``), as Gatus describes endpoints. Each
has an ``sla_target`` written as a percentage (``99.9%``) and parsed with ``Decimal``, so the
error budget is an exact literal (``0.001``, never ``1 - 0.999`` in floats).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import msgspec

from exporter.core.durations import duration_field, format_duration
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc

BUILT_IN: Final = ("api", "database")
DEFAULT_TARGET: Final = "99.9%"
_NAME = whole(r"[a-z][a-z0-9_-]{0,39}")
_TARGET = whole(r"\s*(?P<number>\d+(?:\.\d+)?)\s*%\s*")
_ADDRESS = whole(r"(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})")

Kind = Literal["self", "store", "http", "tcp"]
Policy = Literal["down", "exclude"]
POLICIES: Final = ("down", "exclude")
MAINTENANCE_POLICIES: Final = ("exclude", "count")


@dataclass(frozen=True, slots=True)
class SlaTarget:
    text: str  # as written: "99.9%"
    ratio: Decimal  # Decimal("0.999")

    @property
    def budget(self) -> Decimal:
        """The error budget as an exact decimal: ``1 - 0.999`` is ``0.001``."""
        return 1 - self.ratio

    @property
    def literal(self) -> str:
        return format(self.ratio.normalize(), "f")

    @property
    def budget_literal(self) -> str:
        return format(self.budget.normalize(), "f")

    @property
    def percent(self) -> float:
        return float(self.ratio * 100)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    kind: Kind
    title: str
    description: str
    target: SlaTarget
    interval_ms: int
    timeout_ms: int
    degraded_above_ms: int | None = None  # a successful probe slower than this is "degraded" (still up)
    url: str | None = None
    expected_status: int = 200
    host: str | None = None
    port: int | None = None
    # time no replica observed (the service was not running): downtime (`down`) or left out (`exclude`)
    unobserved: Policy = "exclude"
    maintenance: str = "exclude"  # time in a maintenance window: left out of uptime (`exclude`) or `count`ed

    @property
    def camel(self) -> str:
        """``api`` -> ``Api``, ``docs-site`` -> ``DocsSite`` (for alert names)."""
        return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", self.name) if part)


@dataclass(frozen=True, slots=True)
class SlaSettings:
    breach_min_failures: int  # a run of failed probes is a breach with at least this many failures ...
    breach_min_duration_ms: int  # ... or when it covers at least this long
    alert_min_events: int  # burn-rate alerts need this many probe results in their long window


class _ServiceSpec(msgspec.Struct, forbid_unknown_fields=True):
    sla_target: str | int | float = DEFAULT_TARGET
    type: str | None = None
    title: str | None = None
    description: str = ""
    url: str | None = None
    expected_status: int = 200
    address: str | None = None
    interval: str | None = None
    timeout: str | None = None
    degraded_above: str | None = None
    unobserved: str | None = None
    maintenance: str = "exclude"


class SlaSpec(msgspec.Struct, forbid_unknown_fields=True):
    breach_min_failures: int = 2
    breach_min_duration: str = "1m"
    alert_min_events: int = 20


_TITLES: Final = {"api": "API", "database": "Database"}
_DESCRIPTIONS: Final = {"api": "The tenant and monitoring API (GET /-/ready on the service's own listener).",
                        "database": "The service's database (a ping with a timeout)."}


def load_services(doc: YamlDoc, raw: Any, interval_ms: int, timeout_ms: int) -> tuple[ServiceConfig, ...]:
    """``services:`` (a mapping of name -> spec); ``api`` and ``database`` are added when not listed."""
    where: PathT = ("services",)
    specs: dict[str, Any] = {}
    if raw is not None:
        if not isinstance(raw, dict):
            doc.issue(where, "expected a mapping of service name -> settings")
            return ()
        specs = dict(raw)
    out = []
    for name in (*BUILT_IN, *(n for n in specs if n not in BUILT_IN)):
        path = (*where, name)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            doc.issue(path, "a service name is lowercase letters, digits, '-' or '_' (at most 40), starting "
                            "with a letter")
            continue
        spec = doc.convert(specs.get(name) or {}, _ServiceSpec, path)
        if spec is not None and (service := _service(doc, path, name, spec, interval_ms, timeout_ms)) is not None:
            out.append(service)
    return tuple(out)


def _service(doc: YamlDoc, where: PathT, name: str, spec: _ServiceSpec, default_interval: int,
             default_timeout: int) -> ServiceConfig | None:
    before = len(doc.issues)
    kind = _kind(doc, where, name, spec)
    target = parse_target(doc, (*where, "sla_target"), spec.sla_target)
    interval = _duration(doc, (*where, "interval"), spec.interval, default_interval, minimum=1000)
    timeout = _duration(doc, (*where, "timeout"), spec.timeout, default_timeout, minimum=1)
    if interval and timeout > interval:
        doc.issue((*where, "timeout"), f"must not exceed the interval ({format_duration(interval)})")
    degraded = None
    if spec.degraded_above is not None:
        degraded = _duration(doc, (*where, "degraded_above"), spec.degraded_above, 0, minimum=1)
        if degraded and timeout and degraded >= timeout:
            doc.issue((*where, "degraded_above"), f"must be below the timeout ({format_duration(timeout)})")
    host = port = None
    if kind == "http":
        _check_url(doc, where, spec)
    elif kind is not None and (spec.url is not None or spec.expected_status != 200):
        doc.issue((*where, "url"), "only `type: http` services have a url and expected_status")
    if kind == "tcp":
        host, port = _address(doc, (*where, "address"), spec.address)
    elif kind is not None and spec.address is not None:
        doc.issue((*where, "address"), "only `type: tcp` services have an address")
    # a stopped service cannot answer its own probe, so its unobserved time is downtime; the others' is unknown
    unobserved = spec.unobserved or ("down" if kind == "self" else "exclude")
    if unobserved not in POLICIES:
        doc.issue((*where, "unobserved"), f"must be one of {', '.join(POLICIES)}")
    if spec.maintenance not in MAINTENANCE_POLICIES:
        doc.issue((*where, "maintenance"), f"must be one of {', '.join(MAINTENANCE_POLICIES)}")
    if len(doc.issues) > before or kind is None or target is None:
        return None
    title = (spec.title or _TITLES.get(name) or name).strip()
    description = spec.description.strip() or _DESCRIPTIONS.get(name, "")
    return ServiceConfig(name, kind, title, description, target, interval, timeout, degraded, spec.url,
                         spec.expected_status, host, port, unobserved, spec.maintenance)  # type: ignore[arg-type]


def _kind(doc: YamlDoc, where: PathT, name: str, spec: _ServiceSpec) -> Kind | None:
    if name in BUILT_IN:
        if spec.type is not None:
            doc.issue((*where, "type"), f"{name!r} is built in; it has no type")
        return "self" if name == "api" else "store"
    if spec.type == "http":
        return "http"
    if spec.type == "tcp":
        return "tcp"
    doc.issue((*where, "type"), "must be http or tcp" if spec.type is not None else "required field is missing "
                                                                                     "(http or tcp)")
    return None


def _check_url(doc: YamlDoc, where: PathT, spec: _ServiceSpec) -> None:
    if spec.url is None:
        doc.issue((*where, "url"), "required field is missing")
        return
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        doc.issue((*where, "url"), f"must be an absolute http(s) URL; got {spec.url!r}")
    if not 100 <= spec.expected_status <= 599:
        doc.issue((*where, "expected_status"), "must be an HTTP status (100-599)")


def _address(doc: YamlDoc, where: PathT, address: str | None) -> tuple[str | None, int | None]:
    if address is None:
        doc.issue(where, "required field is missing (host:port)")
        return None, None
    match = _ADDRESS.fullmatch(address.strip())
    if match is None or not 1 <= int(match.group("port")) <= 65535:
        doc.issue(where, f"write host:port (e.g. cache.internal:6379 or [::1]:5432); got {address!r}")
        return None, None
    return match.group("host").strip("[]"), int(match.group("port"))


def parse_target(doc: YamlDoc, where: PathT, raw: str | int | float) -> SlaTarget | None:
    text = raw if isinstance(raw, str) else ""
    match = _TARGET.fullmatch(text)
    if match is None:
        doc.issue(where, f"write the target as a percentage, e.g. '99.9%'; got {raw!r}")
        return None
    try:
        ratio = Decimal(match.group("number")) / 100
    except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
        doc.issue(where, f"{raw!r} is not a number")
        return None
    if not 0 < ratio < 1:
        doc.issue(where, "must be above 0% and below 100% (100% leaves no error budget)")
        return None
    return SlaTarget(text.strip(), ratio)


def load_sla(doc: YamlDoc, spec: SlaSpec) -> SlaSettings:
    where: PathT = ("sla",)
    if not 1 <= spec.breach_min_failures <= 1000:
        doc.issue((*where, "breach_min_failures"), "must be between 1 and 1000")
    if not 1 <= spec.alert_min_events <= 1_000_000:
        doc.issue((*where, "alert_min_events"), "must be between 1 and 1000000")
    duration = _duration(doc, (*where, "breach_min_duration"), spec.breach_min_duration, 0, minimum=0)
    return SlaSettings(spec.breach_min_failures, duration, spec.alert_min_events)


def _duration(doc: YamlDoc, where: PathT, text: str | None, default: int, *, minimum: int) -> int:
    return default if text is None else duration_field(doc, where, text, minimum=minimum)
