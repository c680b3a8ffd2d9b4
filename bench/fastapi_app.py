"""The comparison: GET /api/tenant/config in FastAPI + prometheus-fastapi-instrumentator on uvicorn
with uvloop and httptools, doing the same work as the service's cheapest path: a bearer token
checked against a SHA-256 index and the same JSON body.

Runs only in the benchmark's own virtual environment (bench/requirements-fastapi.txt):
    python bench/fastapi_app.py PORT BODY_FILE TOKEN
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from prometheus_fastapi_instrumentator import Instrumentator


def build(body: bytes, token: str) -> FastAPI:
    keys = {hashlib.sha256(token.encode()).hexdigest(): "bench"}
    app = FastAPI()
    Instrumentator().instrument(app).expose(app)

    @app.get("/api/tenant/config")
    async def config(authorization: str = Header(default="")) -> Response:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or hashlib.sha256(value.encode()).hexdigest() not in keys:
            raise HTTPException(status_code=401, detail="invalid token")
        return Response(content=body, media_type="application/json")

    @app.get("/-/ready")
    async def ready() -> Response:
        return Response(content=b"ok")

    return app


if __name__ == "__main__":
    port, body, token = int(sys.argv[1]), Path(sys.argv[2]).read_bytes(), sys.argv[3]
    uvicorn.run(build(body, token), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
