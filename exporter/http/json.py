"""JSON in and out: msgspec for decoding with validation and for fast encoding."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from exporter.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from exporter.core.parsing import whole
from exporter.http.prebuilt import Prebuilt, Ready

T = TypeVar("T")
_UNKNOWN_FIELD = whole(r"Object contains unknown field `([^`]*)`")
JSON = "application/json"
_encoder = msgspec.json.Encoder()


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = JSON
) -> web.Response:
    return web.Response(
        body=_encoder.encode(body), status=status, headers=headers, content_type=content_type
    )


def encode(body: Any) -> bytes:
    return _encoder.encode(body)


class BodyCache:
    """Encoded answers that depend only on the catalog (a tenant's config, features, limits...),
    answered as ``Prebuilt``: their status line and headers are encoded with the body, once.

    Keys carry the catalog version, so a reload makes old entries unreachable; the cache is
    emptied when it reaches ``max_entries``, which bounds it whatever the keys.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self._bodies: dict[tuple[str, ...], Ready] = {}
        self._max = max_entries

    def response(self, key: tuple[str, ...], build: Callable[[], Any]) -> Prebuilt:
        ready = self._bodies.get(key)
        if ready is None:
            if len(self._bodies) >= self._max:
                self._bodies.clear()
            ready = self._bodies[key] = Ready(_encoder.encode(build()), content_type=JSON)
        return Prebuilt(ready)


class LatestBody:
    """One answer and its encoding, rebuilt only when its key changes (``==``; e.g. a snapshot and a counter)."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self.value: Any = None
        self.body = b""

    def refresh(self, key: tuple[object, ...], build: Callable[[], Any]) -> None:
        if self._key != key:
            self.value = build()
            self.body, self._key = _encoder.encode(self.value), key

    def get(self, key: tuple[object, ...], build: Callable[[], Any]) -> bytes:
        self.refresh(key, build)
        return self.body


async def read_json(request: web.Request, type_: type[T]) -> T:
    """Decode and validate the request body as ``type_``: 400 malformed, 413 too big, 422 invalid."""
    if request.content_type not in (JSON, "application/merge-patch+json") and request.body_exists:
        raise UnsupportedMediaType(f"send JSON with `Content-Type: {JSON}` (got {request.content_type!r})")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise PayloadTooLarge(f"the body is larger than {request.client_max_size} bytes") from e
    if not raw:
        raise BadRequest("a JSON body is required", slug="malformed-json")
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as e:
        message, _, where = str(e).partition(" - at `")
        pointer = _pointer(where.rstrip("`"))
        unknown = _UNKNOWN_FIELD.fullmatch(message)
        if unknown:  # the pointer names the object; point at the field itself
            pointer = f"{pointer.rstrip('/')}/{unknown.group(1)}"
        raise ValidationFailed(
            message, extra={"errors": [{"detail": message, "pointer": pointer}]}
        ) from e
    except msgspec.DecodeError as e:
        raise BadRequest(f"the body is not valid JSON: {e}", slug="malformed-json") from e
    except UnicodeDecodeError as e:
        raise BadRequest(f"the body is not valid UTF-8: {e.reason} at byte {e.start}", slug="malformed-json") from e
    except RecursionError as e:
        raise BadRequest("the body nests too deeply", slug="malformed-json") from e


def _pointer(path: str) -> str:
    """msgspec's ``$.tags.x`` / ``$[0]`` path as an RFC 6901 JSON pointer (``#/tags/x``)."""
    if not path.startswith("$"):
        return "#"
    parts = path[1:].replace("[", ".").replace("]", "").split(".")
    return "#" + "".join(f"/{p}" for p in parts if p)
