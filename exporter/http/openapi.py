"""OpenAPI 3.1 for every route, built from the routes themselves and the msgspec models the
handlers decode and encode with (never a second, hand-kept copy).

A handler says what it takes and answers with ``@operation(...)``; its docstring's first line is
the summary, the rest the description; ``requires(...)`` says who may call it. ``read_body``
decodes a request with the very model the operation declares, so the spec cannot drift from the
validation. ``build_spec(app)`` walks ``app.router`` and refuses a route without a description, and
two operations with one ``operationId`` (the handler's name): generated clients key operations by
it and would silently drop one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import web

from exporter import __version__
from exporter.http.caller import required_roles
from exporter.http.json import read_json

H = TypeVar("H", bound=Callable[..., Any])
_SPEC_ATTR: Final = "__tenant_exporter_operation__"
_PARAM: Final = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
RATE_LIMIT_HEADERS: Final = ("RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining",
                             "RateLimit-Reset")


class Problem(msgspec.Struct):
    """An RFC 9457 problem: ``type`` is stable (``urn:tenant-exporter:problem:<slug>``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter: what it means and the JSON schema of the values the handler accepts."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


def param(description: str, **schema: Any) -> Param:
    return Param(description, schema or {"type": "string"})


@dataclass(frozen=True, slots=True)
class Operation:
    response: Any = None
    body: type | None = None
    status: int = 200
    content_type: str = "application/json"
    query: Mapping[str, str | Param] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    path_patterns: Mapping[str, str] = field(default_factory=dict)
    alternatives: Mapping[int, Any] = field(default_factory=dict)


def operation(
    response: Any = None, *, body: type | None = None, status: int = 200, content_type: str = "application/json",
    query: Mapping[str, str | Param] | None = None, errors: tuple[int, ...] = (), tags: tuple[str, ...] = (),
    headers: Mapping[str, str] | None = None, path_patterns: Mapping[str, str] | None = None,
    alternatives: Mapping[int, Any] | None = None,
) -> Callable[[H], H]:
    """Describe a handler's body, answer, parameters (with path patterns) and other statuses.

    ``content_type`` may list several media types, comma-separated, for a non-JSON answer.
    ``errors`` are statuses answered with problem+json; ``alternatives`` are other answers with
    their own JSON model (or None for an empty body, such as 304).
    """
    op = Operation(response, body, status, content_type, dict(query or {}), errors, tags, dict(headers or {}),
                   dict(path_patterns or {}), dict(alternatives or {}))

    def mark(handler: H) -> H:
        setattr(handler, _SPEC_ATTR, op)
        return handler

    return mark


def operation_of(handler: object) -> Operation | None:
    op = getattr(handler, _SPEC_ATTR, None)
    return op if isinstance(op, Operation) else None


async def read_body(request: web.Request) -> Any:
    """Decode the body with the model the route's ``@operation(body=...)`` declares."""
    op = operation_of(request.match_info.handler)
    if op is None or op.body is None:
        raise TypeError(f"{request.match_info.handler!r} declares no body model")
    return await read_json(request, op.body)


class UndocumentedRoute(Exception):
    """A route lacks a docstring or an @operation, or shares its operationId: the spec would not describe it."""


def build_spec(app: web.Application, *, title: str = "tenant-exporter", server_url: str = "/") -> dict[str, Any]:
    """The document; ``server_url`` is where clients send requests (``PUBLIC_BASE_URL``, else ``/``: relative
    to wherever the document was fetched from)."""
    paths: dict[str, dict[str, Any]] = {}
    models: set[Any] = {Problem}
    operation_ids: dict[str, str] = {}
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        path = route.resource.canonical
        handler = route.handler
        op = operation_of(handler)
        doc = inspect.getdoc(handler)
        if op is None or not doc:
            raise UndocumentedRoute(f"{route.method} {path} needs a docstring and @operation(...)")
        summary, _, description = doc.partition("\n")
        roles = required_roles(handler)
        where = f"{route.method} {path}"
        if (taken := operation_ids.setdefault(handler.__name__, where)) != where:
            raise UndocumentedRoute(f"{where} and {taken} share operationId {handler.__name__!r}: give one a handler "
                                    "of its own")
        entry: dict[str, Any] = {
            "operationId": handler.__name__,
            "summary": summary.strip(),
            "tags": list(op.tags) or [path.strip("/").split("/")[1] if path.startswith("/api/") else "operations"],
            "responses": _responses(op, roles, models),
        }
        if description.strip():
            entry["description"] = description.strip()
        params = [{"name": n, "in": "path", "required": True, "schema": _path_schema(op, n)}
                  for n in _PARAM.findall(path)]
        for name, raw in op.query.items():
            p = raw if isinstance(raw, Param) else Param(raw)
            params.append({"name": name, "in": "query", "required": False, "schema": dict(p.schema),
                           "description": p.description})
        params += [{"name": n, "in": "header", "required": False, "schema": {"type": "string"}, "description": d}
                   for n, d in op.headers.items()]
        if params:
            entry["parameters"] = params
        if op.body is not None:
            models.add(op.body)
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
        if roles is None:
            entry["security"] = []
        else:
            entry["x-roles"] = sorted(roles)
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[route.method.lower()] = entry
    _, components = msgspec.json.schema_components(sorted(models, key=_name),
                                                   ref_template="#/components/schemas/{name}")
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__,
                 "description": "Multi-tenant configuration, quotas and monitoring. Errors are "
                                "application/problem+json (RFC 9457)."},
        "servers": [{"url": server_url, "description": "this service"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key from `POST /api/keys` or "
                                                              "`tenant-exporter keys create`."}},
            "headers": {name: {"schema": {"type": "string"}, "description": f"IETF RateLimit field {name}"}
                        for name in RATE_LIMIT_HEADERS},
        },
        "security": [{"bearerAuth": []}],
    }


def _path_schema(op: Operation, name: str) -> dict[str, Any]:
    pattern = op.path_patterns.get(name)
    return {"type": "string", "pattern": pattern} if pattern else {"type": "string", "minLength": 1}


def _name(model: Any) -> str:
    return getattr(model, "__name__", repr(model))


def _ref(model: Any) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, msgspec.Struct):
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return msgspec.json.schema(model)


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/problem+json": {"schema": PROBLEM_REF}}}
    if headers:
        out["headers"] = headers
    return out


def _responses(op: Operation, roles: frozenset[str] | None, models: set[Any]) -> dict[str, Any]:
    limit_headers = {n: {"$ref": f"#/components/headers/{n}"} for n in RATE_LIMIT_HEADERS} if roles else {}
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        if isinstance(op.response, type) and issubclass(op.response, msgspec.Struct):
            models.add(op.response)
        ok["content"] = {op.content_type: {"schema": _ref(op.response)}}
    elif op.content_type != "application/json":
        ok["content"] = {ct.strip(): {"schema": {"type": "string"}} for ct in op.content_type.split(",")}
    if limit_headers:
        ok["headers"] = limit_headers
    out: dict[str, Any] = {str(op.status): ok}
    if op.body is not None:
        out["400"] = _problem("Malformed JSON")
        out["413"] = _problem("Body too large")
        out["415"] = _problem("Not JSON")
        out["422"] = _problem("The body does not match the schema")
    if roles is not None:
        out["401"] = _problem("No or invalid API key", {"WWW-Authenticate": {"schema": {"type": "string"}}})
        out["403"] = _problem("The key's role may not do this, or names another tenant")
        out["429"] = _problem("Monthly quota used up or per-second rate exceeded",
                              {**limit_headers, "Retry-After": {"schema": {"type": "integer"}}})
    for status in op.errors:
        out[str(status)] = _problem({400: "Bad request", 404: "Not found", 409: "Conflict",
                                     502: "An upstream server (Prometheus) failed",
                                     503: "The database is unavailable"}.get(status, "Error"))
    for status, model in op.alternatives.items():
        alt: dict[str, Any] = {"description": {304: "Not modified"}.get(status, model.__name__ if model else "")}
        if model is not None:
            models.add(model)
            alt["content"] = {"application/json": {"schema": _ref(model)}}
        out[str(status)] = alt
    return dict(sorted(out.items()))
