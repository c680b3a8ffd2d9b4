"""The compose files as Docker Compose reads them: ``${VAR:-default}`` interpolation and the merge
of an override file (``-f base -f override``), for the parts these files use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support.helpers import ROOT

BASE = ROOT / "docker-compose.yml"
REPLICAS = ROOT / "deploy" / "compose" / "replicas.yml"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string, as Compose does before anything else."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def load(*files: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The files merged in order: mappings key by key, later scalars win, lists appended."""
    merged: dict[str, Any] = {}
    for path in files:
        merged = _merge(merged, interpolate(yaml.safe_load(path.read_text()), env or {}))
    return merged


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) if k in base else v for k, v in override.items()}}
    if isinstance(base, list) and isinstance(override, list):
        return base + [v for v in override if v not in base]
    return override
