"""Request bodies of the monitoring API (an acknowledgement, a custom metric) and the custom metric's
answer; the health, metrics and alerts answers are the monitoring package's (``monitoring/models.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from exporter.telemetry.custom import (
    LABEL_PATTERN,
    MAX_LABEL_NAME,
    MAX_LABEL_VALUE,
    MAX_NAME_LENGTH,
    MAX_TAGS,
    NAME_PATTERN,
)

Number = int | float


class AcknowledgeIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: Annotated[str, msgspec.Meta(max_length=1000, description="Private: operators see it, nobody else.")] = ""
    public_message: Annotated[str, msgspec.Meta(
        max_length=500, description="Optional: shown on the public status page as the incident's `identified` update. "
                                    "Nothing else of the acknowledgement (key, name, comment) is ever public.")] = ""


MetricName = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH,
                                         description="A Prometheus metric name without colons.")]
LabelName = Annotated[str, msgspec.Meta(pattern=LABEL_PATTERN, max_length=MAX_LABEL_NAME)]
LabelValue = Annotated[str, msgspec.Meta(max_length=MAX_LABEL_VALUE)]
Tags = Annotated[dict[LabelName, LabelValue], msgspec.Meta(max_length=MAX_TAGS)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with a time zone; default: now.")]


class CustomMetricIn(msgspec.Struct, forbid_unknown_fields=True):
    name: MetricName
    value: Number
    tags: Tags = {}
    timestamp: Timestamp | None = None


class CustomMetricOut(msgspec.Struct):
    recorded: bool
    metric: str
    value: Number
    timestamp: datetime
    exported_as: str
    tenant: str
    labels: dict[str, str]
