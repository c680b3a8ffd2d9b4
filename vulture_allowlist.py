"""Names vulture reports as unused that are used by a framework, not by a call in this package.

Each line references the name the way vulture reads it (an attribute access), with the reason.
"""
# ruff: noqa: B018 (a bare attribute access is how vulture allowlists mark names as used)

from exporter.alertmanager.webhook import WebhookMessage
from exporter.audit.export import EventView
from exporter.http.openapi import Problem
from exporter.http.pipeline import _AnyTarget
from exporter.http.prebuilt import Prebuilt
from exporter.http.routes.admin import Reloaded
from exporter.http.routes.ofrep import EvaluationFailure, EvaluationSuccess, FlagMetadata, ProviderConfiguration
from exporter.http.server import ProblemRequestHandler
from exporter.monitoring.window import Window
from exporter.rulegen.prometheus import _Dumper
from exporter.store.records import AckRecord, AlertStateRow, MaintenanceRow
from exporter.telemetry import custom
from exporter.telemetry.exposition import MetricsRenderer

# msgspec Struct fields: decoded from and encoded to JSON, never read by name here
WebhookMessage.common_annotations
EventView.untrusted
Problem.instance
Reloaded.reloaded
Reloaded.config_version
FlagMetadata.flagSetId
EvaluationSuccess.metadata
EvaluationFailure.errorCode
EvaluationFailure.errorDetails
ProviderConfiguration.capabilities
AckRecord.cleared_at  # a column of the row
AlertStateRow.updated_ms  # a column of the row
MaintenanceRow.cancelled_at  # a column of the row
# overrides of aiohttp's and PyYAML's hooks
_AnyTarget._match
ProblemRequestHandler.handle_error
_Dumper.ignore_aliases
# the state aiohttp's StreamResponse reads through its properties (body_length, repr)
Prebuilt._body_length
Prebuilt._req
Prebuilt._reason
# read by the API models (msgspec patterns), which vulture leaves out
custom.LABEL_PATTERN
# read by the tests of single-flight rendering
MetricsRenderer.renders
Window.oldest_ms  # read by the tests of the window's bounds
