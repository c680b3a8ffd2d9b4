"""Turn a scenario (tests/scenarios.py) into promtool input series and into a registry the evaluator reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

from exporter.monitoring.alerts import AlertState
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.engine import AlertEngine
from exporter.monitoring.promql import prom_round
from exporter.monitoring.signals import SIGNALS, Signal
from exporter.rulegen.prometheus import decimal_literal
from exporter.sla.probes import ProbeCollector, ProbeResult
from tests.support.helpers import FakeClock
from tests.support.scenarios import BUCKETS, INSTANCE, JOB, STEP_MS, Requests, Scenario


def _fmt(values: list[float | None]) -> str:
    return " ".join("_" if v is None else repr(v) for v in values)


def input_series(scenario: Scenario, instance: str = INSTANCE) -> list[dict[str, str]]:
    """The scenario as promtool ``input_series`` (one value per 15 s step; ``_`` where a series is absent)."""
    out: list[dict[str, str]] = []
    base = f'job="{JOB}",instance="{instance}"'
    kinds = scenario.request_kinds()
    for kind in kinds:
        values, total = [], 0.0
        for step in range(scenario.steps):
            if step:
                total += sum(r.n for r in scenario.phase_at(step).traffic if _same(r, kind))
            values.append(total)
        labels = f'method="{kind.method}",route="{kind.route}",status="{kind.status}",tenant="{kind.tenant}"'
        out.append({"series": f"http_requests_total{{{labels},{base}}}", "values": _fmt(list(values))})
    for method, route in sorted({(k.method, k.route) for k in kinds}):
        for le in (*BUCKETS, float("inf")):
            values, total = [], 0.0
            for step in range(scenario.steps):
                if step:
                    total += sum(r.n for r in scenario.phase_at(step).traffic
                                 if (r.method, r.route) == (method, route) and r.seconds <= le)
                values.append(total)
            labels = f'method="{method}",route="{route}",le="{floatToGoString(le)}"'
            out.append({"series": f"http_request_duration_seconds_bucket{{{labels},{base}}}",
                        "values": _fmt(list(values))})
    for name, attr, extra in (("system_cpu_usage_ratio", "cpu", ""), ("system_memory_usage_ratio", "memory", ""),
                              ("tenant_exporter_probe_success", "probe", 'service="api",')):
        gauge: list[float | None] = [getattr(scenario.phase_at(s), attr) for s in range(scenario.steps)]
        if any(v is not None for v in gauge):
            out.append({"series": f"{name}{{{extra}{base}}}", "values": _fmt(gauge)})
    return out


def _same(a: Requests, b: Requests) -> bool:
    return (a.method, a.route, a.status, a.tenant) == (b.method, b.route, b.status, b.tenant)


@dataclass
class Replay:
    """The scenario replayed, step by step, into real prometheus_client families read by the evaluator."""

    scenario: Scenario
    engine: AlertEngine
    clock: FakeClock
    registry: CollectorRegistry
    probes: ProbeCollector
    firing: list[dict[str, frozenset[tuple[str, str]]]] = field(default_factory=list)
    values: list[dict[str, float | None]] = field(default_factory=list)
    _gauges: dict[str, Gauge] = field(default_factory=dict)
    _requests: Counter = field(init=False)
    _duration: Histogram = field(init=False)
    _start: float = field(init=False)

    def run(self) -> Replay:
        self.prepare()
        for step in range(self.scenario.steps):
            self.advance(step)
            evaluation, _ = self.engine.evaluate()
            self.firing.append({a.rule.name: frozenset((k, v) for k, v in a.labels.items() if k != "alertname")
                                for a in self.engine.alerts() if a.state is AlertState.FIRING})
            self.values.append({name: next(iter(v.values()), None) for name, v in evaluation.signals.items()})
        return self

    def prepare(self) -> None:
        # The HTTP families exactly as issue 3 defines them (names, labels, buckets).
        requests = self._requests = Counter("http_requests_total", "Requests.", ["method", "route", "status", "tenant"],
                           registry=self.registry)
        duration = self._duration = Histogram("http_request_duration_seconds", "Durations.", ["method", "route"],
                                              buckets=BUCKETS, registry=self.registry)
        for kind in self.scenario.request_kinds():  # every series exists from t=0, as in the promtool input
            requests.labels(kind.method, kind.route, str(kind.status), kind.tenant)
            duration.labels(kind.method, kind.route)
        self._start = self.clock.wall

    def advance(self, step: int) -> None:
        """The families as they are at ``step``, and the clock at its time."""
        phase = self.scenario.phase_at(step)
        if step:
            for r in phase.traffic:
                self._requests.labels(r.method, r.route, str(r.status), r.tenant).inc(r.n)
                for _ in range(r.n):
                    self._duration.labels(r.method, r.route).observe(r.seconds)
        self._gauge("system_cpu_usage_ratio", phase.cpu)
        self._gauge("system_memory_usage_ratio", phase.memory)
        if phase.probe is not None:
            self.probes.record(ProbeResult("api", phase.probe == 1.0, 0.001))
        self.clock.wall = self._start + step * STEP_MS / 1000

    def _gauge(self, name: str, value: float | None) -> None:
        if value is None:
            assert name not in self._gauges, "a gauge cannot disappear once it exists"
            return
        if name not in self._gauges:
            self._gauges[name] = Gauge(name, "Host ratio.", registry=self.registry)
        self._gauges[name].set(value)


def series_labels(signal: Signal) -> dict[str, str]:
    """What the recorded series of ``signal`` keeps: ``job``, and ``instance`` for a per-replica signal."""
    return {"job": JOB, "instance": INSTANCE} if signal.per_replica else {"job": JOB}


def promtool_test(scenario: Scenario, replay: Replay, monitoring: MonitoringConfig, rule_file: str) -> dict[str, Any]:
    """A promtool test file: the table's firing set at every step, and the evaluator's rounded values."""
    alert_tests, expr_tests = [], []
    for step in range(scenario.steps):
        at = f"{step * STEP_MS // 1000}s"
        expected = scenario.expected(step)
        for rule in monitoring.rules:
            exp = []
            if rule.name in expected:
                labels = {**dict(rule.signal.selector), **rule.labels}
                if rule.operator != "absent":
                    labels.update(series_labels(rule.signal))
                exp.append({"exp_labels": labels, "exp_annotations": rule.annotations})
            alert_tests.append({"eval_time": at, "alertname": rule.name, "exp_alerts": exp})
        for name, signal in SIGNALS.items():
            value = replay.values[step][name]
            precision = float(signal.unit.precision)
            labels = {**series_labels(signal), **dict(signal.selector)}
            exp_samples = [] if value is None else [{
                "labels": "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}",
                "value": prom_round(value, precision)}]
            expr = f"round({signal.record_name(monitoring.window)}, {decimal_literal(signal.unit.precision)})"
            expr_tests.append({"expr": expr, "eval_time": at, "exp_samples": exp_samples})
    return {
        "rule_files": [rule_file],
        "evaluation_interval": f"{STEP_MS // 1000}s",
        "tests": [{"name": scenario.id, "interval": f"{STEP_MS // 1000}s", "input_series": input_series(scenario),
                   "alert_rule_test": alert_tests, "promql_expr_test": expr_tests}],
    }
