"""Regional endpoints: a tenant's data-residency base URL joined with a feature path."""

from __future__ import annotations

import re

from exporter.catalog import Region
from exporter.errors import BadRequest

_SEGMENT = re.compile(r"^[A-Za-z0-9_~.\-]+$")


def regional_url(region: Region, feature_path: str) -> str:
    """``https://eu.api.example.com/api`` + ``cases/42`` -> ``https://eu.api.example.com/api/cases/42``.

    Only plain relative paths are accepted: no ``.``/``..`` segments, no empty segments
    (``//host``), no scheme, no query or fragment, no percent-escapes or backslashes. The
    result always stays under the region's base URL.
    """
    path = feature_path.strip()
    if not path:
        raise BadRequest("a feature path is required, e.g. /api/tenant/region/cases/42", slug="invalid-path")
    segments = path.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise BadRequest(
                f"invalid feature path {feature_path!r}: use plain segments of letters, digits, '-', '_', "
                "'.' and '~' (no '..', '//', scheme, query or escapes)",
                slug="invalid-path",
            )
    return f"{region.api_base_url}/{'/'.join(segments)}"
