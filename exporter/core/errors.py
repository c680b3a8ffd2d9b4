"""The exception hierarchy. Domain code raises these; ``http/problems.py`` turns them into
``application/problem+json`` (RFC 9457) answers.

    ExporterError
    ├── SettingsError            an environment variable that cannot be used
    ├── ConfigError              YAML config rejected: a list of file:line:field issues
    ├── StoreError               the database failed
    │   └── StoreUnavailable     ... because it cannot be reached (503 + Retry-After)
    ├── ArchiveError             audit events could not be archived (so none were deleted)
    └── ProblemError             an HTTP answer other than success
        ├── BadRequest           400
        ├── Unauthorized         401 (+ WWW-Authenticate)
        ├── Forbidden            403
        ├── NotFound             404
        ├── Conflict             409
        ├── PayloadTooLarge      413
        ├── UnsupportedMediaType 415
        ├── ValidationFailed     422 (field-level errors)
        ├── TooManyRequests      429 (+ Retry-After)
        └── BadGateway           502 (a server this one asked, such as Prometheus, failed)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "urn:tenant-exporter:problem:"


class ExporterError(Exception):
    """Base of every error this package raises on purpose."""


class SettingsError(ExporterError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one config file, located as precisely as the YAML allows."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ExporterError):
    """Configuration rejected; ``issues`` says where and why."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class StoreError(ExporterError):
    """The database failed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; the caller should retry later."""


class ArchiveError(ExporterError):
    """Audit events could not be written to the archive directory; retention deleted none."""


class ProblemError(ExporterError):
    """An error with an HTTP status and a stable problem ``type``."""

    status: ClassVar[int] = 500
    default_slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        slug: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.slug: str = slug if slug is not None else self.default_slug

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class BadRequest(ProblemError):
    status, default_slug, title = 400, "bad-request", "Bad Request"


class Unauthorized(ProblemError):
    status, default_slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(ProblemError):
    status, default_slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, default_slug, title = 404, "not-found", "Not Found"


class Conflict(ProblemError):
    status, default_slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    status, default_slug, title = 413, "payload-too-large", "Payload Too Large"


class UnsupportedMediaType(ProblemError):
    status, default_slug, title = 415, "unsupported-media-type", "Unsupported Media Type"


class ValidationFailed(ProblemError):
    status, default_slug, title = 422, "validation-failed", "Unprocessable Content"


class TooManyRequests(ProblemError):
    status, default_slug, title = 429, "too-many-requests", "Too Many Requests"


class BadGateway(ProblemError):
    status, default_slug, title = 502, "bad-gateway", "Bad Gateway"
