"""Prometheus durations (``15s``, ``5m``, ``1h30m``): parsed to milliseconds, printed back canonically.

The format and the canonical printing are Prometheus's own (``model.ParseDuration`` and
``model.Duration.String``), so a duration written in monitoring.yml appears in the generated
rules exactly as Prometheus would print it.
"""

from __future__ import annotations

from typing import Final

from exporter.core.parsing import whole
from exporter.core.yamlfile import PathT, YamlDoc

_UNITS: Final = (("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
                 ("m", 60_000), ("s", 1000), ("ms", 1))
_PATTERN: Final = whole(
    r"(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
    r"(?:(?P<ms>\d+)ms)?"
)


def parse_duration(text: str) -> int:
    """``1h30m`` -> 5400000; raises ValueError for anything Prometheus would not accept."""
    stripped = text.strip()
    if stripped == "0":
        return 0
    match = _PATTERN.fullmatch(stripped)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration (write e.g. 15s, 5m, 1h30m)")
    return sum(int(match.group(unit)) * ms for unit, ms in _UNITS if match.group(unit))


def format_duration(ms: int) -> str:
    """Prometheus's canonical form: years and weeks only when exact, then d, h, m, s, ms."""
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in _UNITS:
        if unit in ("y", "w") and ms % size:
            continue
        count, ms = divmod(ms, size)
        if count:
            out += f"{count}{unit}"
    return out


def duration_field(doc: YamlDoc, where: PathT, text: str, *, minimum: int) -> int:
    """A config file's duration in milliseconds; an unparsable or too short one is an issue on ``doc`` (0)."""
    try:
        ms = parse_duration(text)
    except ValueError as e:
        doc.issue(where, str(e))
        return 0
    if ms < minimum:
        doc.issue(where, f"must be at least {format_duration(minimum)}")
    return ms
