"""Bodies of the maintenance API: a window to schedule, and the windows as the API lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from exporter.core.parsing import schema_pattern

ServiceName = Annotated[str, msgspec.Meta(pattern=schema_pattern("[a-z][a-z0-9_-]{0,39}"))]


class MaintenanceIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    services: Annotated[list[ServiceName], msgspec.Meta(min_length=1, max_length=50,
                                                        description="Probed services it takes down on purpose.")]
    start: Annotated[datetime, msgspec.Meta(tz=True)]
    end: Annotated[datetime, msgspec.Meta(tz=True, description="After start, and in the future.")]
    description: Annotated[str, msgspec.Meta(max_length=2000, description="Public: shown on the status page.")] = ""


class MaintenanceOut(msgspec.Struct):
    id: str
    name: str
    services: list[str]
    start: str
    end: str
    description: str
    status: str  # scheduled | in_progress | completed
    source: str  # config (monitoring.yml, cannot be cancelled here) | api


class MaintenanceListOut(msgspec.Struct):
    windows: list[MaintenanceOut]  # by start, completed ones for 90 days
