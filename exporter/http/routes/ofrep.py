"""OpenFeature Remote Evaluation Protocol (OFREP): tenant features for any OpenFeature SDK.

``POST /ofrep/v1/evaluate/flags/{key}`` and the bulk ``POST /ofrep/v1/evaluate/flags`` (with
``ETag`` / ``If-None-Match``). The tenant always comes from the API key, never from the
evaluation context, so a client cannot read another tenant's flags by naming it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from exporter.http.caller import TENANT, requires
from exporter.http.json import json_response, read_json
from exporter.http.openapi import operation
from exporter.tenancy.catalog import FeatureDecision, Tenant


class FlagMetadata(msgspec.Struct):
    source: str
    plan: str
    explanation: str
    flagSetId: str
    version: str


class EvaluationSuccess(msgspec.Struct):
    key: str
    value: bool
    reason: str
    variant: str
    metadata: FlagMetadata


class EvaluationFailure(msgspec.Struct):
    key: str
    errorCode: str
    errorDetails: str


class BulkEvaluation(msgspec.Struct):
    flags: list[EvaluationSuccess]


class ProviderConfiguration(msgspec.Struct):
    name: str
    capabilities: dict[str, Any]


class EvaluationRequest(msgspec.Struct):
    context: dict[str, Any] = {}


def _success(tenant: Tenant, decision: FeatureDecision, version: str) -> EvaluationSuccess:
    return EvaluationSuccess(
        key=decision.feature, value=decision.enabled, reason=decision.reason, variant=decision.variant,
        metadata=FlagMetadata(decision.source, tenant.plan.name, decision.explanation, "plans", version),
    )


async def _context(request: web.Request) -> None:
    """Read (and validate) the optional evaluation context; its content cannot change the answer."""
    if request.body_exists:
        await read_json(request, EvaluationRequest)


class OfrepApi:
    def __init__(self, poll_interval: float) -> None:
        self._poll_ms = int(poll_interval * 1000)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/ofrep/v1/evaluate/flags/{key}", self.evaluate_flag),
                web.post("/ofrep/v1/evaluate/flags", self.evaluate_flags),
                web.get("/ofrep/v1/configuration", self.configuration)]

    @requires()
    @operation(EvaluationSuccess, tags=("ofrep",), alternatives={404: EvaluationFailure})
    async def evaluate_flag(self, request: web.Request) -> web.Response:
        """Evaluate one flag (a tenant feature) for the caller's tenant."""
        await _context(request)
        tenant = request[TENANT]
        decision = tenant.feature(request.match_info["key"])
        if not decision.known:
            failure = EvaluationFailure(decision.feature, "FLAG_NOT_FOUND", decision.explanation)
            return json_response(failure, status=404)
        return json_response(_success(tenant, decision, tenant.version))

    @requires()
    @operation(BulkEvaluation, tags=("ofrep",), alternatives={304: None},
               headers={"If-None-Match": "ETag of a previous answer: 304 if unchanged"})
    async def evaluate_flags(self, request: web.Request) -> web.Response:
        """Evaluate every flag at once; ``If-None-Match`` with the last ``ETag`` answers 304."""
        await _context(request)
        tenant = request[TENANT]
        version = tenant.version
        etag = f'"{version}-{tenant.id}"'
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            return web.Response(status=304, headers={"ETag": etag})
        body = BulkEvaluation([_success(tenant, d, version) for d in tenant.decisions.values()])
        return json_response(body, headers={"ETag": etag})

    @requires()
    @operation(ProviderConfiguration, tags=("ofrep",))
    async def configuration(self, request: web.Request) -> web.Response:
        """OFREP provider configuration: what this server supports and how often to poll."""
        return json_response(ProviderConfiguration(
            name="tenant-exporter",
            capabilities={
                "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": self._poll_ms}},
                "flagEvaluation": {"supportedTypes": ["boolean"]},
            },
        ))
