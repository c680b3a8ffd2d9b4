"""``slos:`` of monitoring.yml -> request-based and latency SLOs of the API, beside the probe SLOs of ``services:``.

Both kinds count the very requests the ``error_rate`` signal counts (``http_requests_total`` of the
job: every route the request telemetry counts, i.e. all but ``METRICS_EXCLUDE_PATHS``, ``/metrics``
by default), so an error burst that fires ``ErrorRateHigh`` burns their budget too:

- ``sli: requests``: good = not 5xx, valid = every counted request (a ratio of good to valid);
- ``sli: latency``: good = answered within ``threshold``, valid = every counted request; the
  threshold must be a bound of the duration histogram (``signals.LATENCY_BOUNDS``), so that the
  count of good requests is a bucket, exactly, on both sides.

Their budgeting method is OpenSLO's *Occurrences*: the budget is (1 - objective) of the valid
requests. ``per_tenant: true`` gives each tenant its own figures and alerts (requests only: the
duration histogram has no tenant label). The same PromQL feeds the generated rules
(``rulegen/slo.py``) and ``/sla?source=prometheus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec
from prometheus_client.utils import floatToGoString

from exporter.core.durations import parse_duration
from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc
from exporter.monitoring.services import MAINTENANCE_POLICIES, SlaTarget, parse_target
from exporter.monitoring.signals import LATENCY_BOUNDS

SERVICE: Final = "api"  # the requests are this service's own
KINDS: Final = ("requests", "latency")
_NAME = whole(r"[a-z][a-z0-9-]{0,39}")

Kind = Literal["requests", "latency"]


@dataclass(frozen=True, slots=True)
class RequestSlo:
    name: str
    sli: Kind
    objective: SlaTarget
    threshold_seconds: float | None  # latency: a bound of the duration histogram
    per_tenant: bool
    description: str
    maintenance: str = "exclude"  # requests counted during a maintenance window: left out, or `count`ed

    @property
    def id(self) -> str:
        """Sloth's ``sloth_id``: ``api-requests``."""
        return f"{SERVICE}-{self.name}"

    @property
    def camel(self) -> str:
        return "".join(part[:1].upper() + part[1:] for part in self.id.split("-") if part)

    @property
    def le(self) -> str:
        """The bucket's ``le`` label as exported (``0.5``, ``1.0``)."""
        return str(floatToGoString(self.threshold_seconds))  # type: ignore[no-untyped-call]

    def total(self, job: str, window: str) -> str:
        """PromQL: valid requests over ``window`` (summed over replicas; by tenant when per tenant)."""
        return f'sum{self._by}(increase(http_requests_total{{job="{job}"}}[{window}]))' if self.sli == "requests" \
            else f'sum{self._by}(increase(http_request_duration_seconds_count{{job="{job}"}}[{window}]))'

    def errors(self, job: str, window: str) -> str:
        """PromQL: bad requests over ``window``; 0 (not absent) when there was traffic but none was bad."""
        total = self.total(job, window)
        if self.sli == "requests":
            bad = f'sum{self._by}(increase(http_requests_total{{job="{job}",status=~"5.."}}[{window}]))'
            return f"({bad} or 0 * {total})"
        good = f'sum{self._by}(increase(http_request_duration_seconds_bucket{{job="{job}",le="{self.le}"}}[{window}]))'
        return f"({total} - {good})"

    @property
    def _by(self) -> str:
        return " by (tenant) " if self.per_tenant else ""


class _SloSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    sli: str
    objective: str | int | float
    threshold: str | None = None
    per_tenant: bool = False
    description: str = ""
    maintenance: str = "exclude"


def load_slos(doc: YamlDoc, raw: Any) -> tuple[RequestSlo, ...]:
    """``slos:``, a list; each SLO's name is unique and not ``availability`` (the probe SLOs' name)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        doc.issue(("slos",), "expected a list of SLOs")
        return ()
    out: list[RequestSlo] = []
    for i, item in enumerate(raw):
        slo = _slo(doc, ("slos", i), item)
        if slo is not None and any(s.name == slo.name for s in out):
            doc.issue(("slos", i, "name"), f"another SLO is already named {slo.name!r}")
        elif slo is not None:
            out.append(slo)
    return tuple(out)


def _slo(doc: YamlDoc, where: PathT, raw: Any) -> RequestSlo | None:
    spec = doc.convert(raw, _SloSpec, where)
    if spec is None:
        return None
    before = len(doc.issues)
    if not _NAME.fullmatch(spec.name) or spec.name == "availability":
        doc.issue((*where, "name"), "lowercase letters, digits and '-' (at most 40), starting with a letter; "
                                    "not `availability` (the name of each service's probe SLO)")
    if spec.sli not in KINDS:
        doc.issue((*where, "sli"), f"must be one of {', '.join(KINDS)}")
    objective = parse_target(doc, (*where, "objective"), spec.objective)
    threshold = _threshold(doc, where, spec)
    if spec.per_tenant and spec.sli == "latency":
        doc.issue((*where, "per_tenant"), "latency SLOs are per service: the duration histogram has no tenant "
                                          "label (a tenant label would multiply its series by the tenants)")
    if spec.maintenance not in MAINTENANCE_POLICIES:
        doc.issue((*where, "maintenance"), f"must be one of {', '.join(MAINTENANCE_POLICIES)}")
    if len(doc.issues) > before or objective is None:
        return None
    description = spec.description.strip() or _default_description(spec)
    return RequestSlo(spec.name, spec.sli, objective, threshold, spec.per_tenant,  # type: ignore[arg-type]
                      description, spec.maintenance)


def _threshold(doc: YamlDoc, where: PathT, spec: _SloSpec) -> float | None:
    if spec.sli != "latency":
        if spec.threshold is not None:
            doc.issue((*where, "threshold"), "only `sli: latency` has a threshold")
        return None
    if spec.threshold is None:
        doc.issue((*where, "threshold"), "required field is missing (a duration, e.g. 500ms)")
        return None
    try:
        seconds = Decimal(parse_duration(spec.threshold)) / 1000
    except ValueError as e:
        doc.issue((*where, "threshold"), str(e))
        return None
    if float(seconds) not in LATENCY_BOUNDS:
        bounds = ", ".join(f"{Decimal(str(b)) * 1000:f}".rstrip("0").rstrip(".") + "ms" for b in LATENCY_BOUNDS)
        doc.issue((*where, "threshold"), f"must be a bound of the request-duration histogram: {bounds}")
        return None
    return float(seconds)


def _default_description(spec: _SloSpec) -> str:
    if spec.sli == "latency":
        return f"Requests answered within {spec.threshold}."
    return "Requests answered without a server error (5xx)."
