"""Regional endpoints: a tenant's data-residency base URL joined with a feature path."""

from __future__ import annotations

import re

from exporter.catalog import Region
from exporter.errors import BadRequest

SEGMENT = r"[A-Za-z0-9_~\-][A-Za-z0-9_~.\-]*"
FEATURE_PATH_PATTERN = rf"^{SEGMENT}(/{SEGMENT})*$"
_FEATURE_PATH = re.compile(FEATURE_PATH_PATTERN)


def regional_url(region: Region, feature_path: str) -> str:
    """``https://eu.api.example.com/api`` + ``cases/42`` -> ``https://eu.api.example.com/api/cases/42``.

    Only plain relative paths are accepted (``FEATURE_PATH_PATTERN``, also in the OpenAPI
    description): segments of letters, digits, ``-``, ``_``, ``~`` and ``.`` that do not start with
    a dot, so no ``.``/``..``, no empty segments (``//host``), no scheme, no query or fragment, no
    percent-escapes or backslashes. The result always stays under the region's base URL.
    """
    if not _FEATURE_PATH.match(feature_path):
        raise BadRequest(
            f"invalid feature path {feature_path!r}: use segments of letters, digits, '-', '_', '~' and '.' "
            "that do not start with '.' (no '..', '//', scheme, query or escapes)",
            slug="invalid-path",
        )
    return f"{region.api_base_url}/{feature_path}"
