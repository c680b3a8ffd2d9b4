"""``operational_alerts:`` of monitoring.yml -> ``rules/operations.yml``: one group, each signal's recording
rule first and the alerts after it (a group's rules run in order at one timestamp, so an alert reads
what its recording rule has just written).

Only the signals some alert uses are recorded. An alert compares the series with the threshold's
exact literal (``>= 0.8``), restricted to its ``match`` labels (``{enforcement="hard"}``).
"""

from __future__ import annotations

from string import Template
from typing import Any, Final

from exporter.core.durations import format_duration
from exporter.monitoring.config import MonitoringConfig
from exporter.monitoring.operational import OpsAlert

FILE_NAME: Final = "operations.yml"
GROUP_NAME: Final = "tenant-exporter-operations"


def _selector(series: str, match: tuple[tuple[str, str], ...]) -> str:
    """``series`` restricted to ``match``: a recorded name gets ``{...}``, a selector more matchers."""
    if not match:
        return series
    matchers = ",".join(f'{name}="{value}"' for name, value in match)
    return f"{series[:-1]},{matchers}}}" if series.endswith("}") else f"{series}{{{matchers}}}"


def alert_expression(alert: OpsAlert, job: str) -> str:
    series = Template(alert.signal.series()).substitute(job=job)
    return f"{_selector(series, alert.match)} {alert.operator} {alert.literal}"


def groups(monitoring: MonitoringConfig) -> list[dict[str, Any]]:
    if not monitoring.operational:
        return []
    job = monitoring.job
    rules: list[dict[str, Any]] = []
    recorded: set[str] = set()
    for alert in monitoring.operational:
        signal = alert.signal
        if signal.record and signal.record not in recorded:
            recorded.add(signal.record)
            rules.append({"record": signal.record, "expr": Template(signal.promql).substitute(job=job)})
    for alert in monitoring.operational:
        entry: dict[str, Any] = {"alert": alert.name, "expr": alert_expression(alert, job)}
        if alert.for_ms:
            entry["for"] = format_duration(alert.for_ms)
        entry["labels"] = alert.labels
        entry["annotations"] = alert.annotations
        rules.append(entry)
    return [{"name": GROUP_NAME, "interval": format_duration(monitoring.evaluation_interval_ms), "rules": rules}]
