"""Regional endpoints: a tenant's data-residency base URL joined with a feature path."""

from __future__ import annotations

from exporter.core.errors import BadRequest
from exporter.core.parsing import schema_pattern, whole
from exporter.tenancy.catalog import Region

SEGMENT = r"[A-Za-z0-9_~\-][A-Za-z0-9_~.\-]*"
FEATURE_PATH_PATTERN = schema_pattern(rf"{SEGMENT}(/{SEGMENT})*")  # in the OpenAPI description
_FEATURE_PATH = whole(rf"{SEGMENT}(/{SEGMENT})*")


def regional_url(region: Region, feature_path: str) -> str:
    """``https://eu.api.example.com/api`` + ``cases/42`` -> ``https://eu.api.example.com/api/cases/42``.

    Only plain relative paths are accepted (``FEATURE_PATH_PATTERN``, also in the OpenAPI
    description): segments of letters, digits, ``-``, ``_``, ``~`` and ``.`` that do not start with
    a dot, so no ``.``/``..``, no empty segments (``//host``), no scheme, no query or fragment, no
    percent-escapes or backslashes. The result always stays under the region's base URL.
    """
    if not _FEATURE_PATH.fullmatch(feature_path):
        raise BadRequest(
            f"invalid feature path {feature_path!r}: use segments of letters, digits, '-', '_', '~' and '.' "
            "that do not start with '.' (no '..', '//', scheme, query or escapes)",
            slug="invalid-path",
        )
    return f"{region.api_base_url}/{feature_path}"
