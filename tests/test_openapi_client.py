"""A TypeScript client generated from the served OpenAPI document compiles (the frontend's route):
openapi-typescript writes the types, ``tsc --strict`` compiles a small client module that uses them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.helpers import ROOT
from tests.support.node_tools import run as node
from tests.support.service import Service

CLIENT = ROOT / "tests" / "client"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The document does not depend on the store."""
    return f"sqlite:///{tmp_path}/openapi.db"


async def generate(service: Service, node_tools: Path, work: Path) -> tuple[dict, Path]:
    """The served document -> ``api.d.ts`` beside a copy of ``tests/client``."""
    shutil.copytree(CLIENT, work)
    spec = await (await service.client.get("/api/openapi.json")).json()
    (work / "openapi.json").write_text(json.dumps(spec))
    generated = node("openapi-typescript", "openapi.json", "--output", "api.d.ts", cwd=work)
    assert 0 == generated.returncode, generated.stdout + generated.stderr
    return spec, work


async def test_a_typescript_client_generated_from_the_document_compiles(
        service: Service, node_tools: Path, tmp_path: Path) -> None:
    """openapi-typescript turns /api/openapi.json into types with every operation, and a client using them
    (tenant config, both audit-list paths, the paged list's total) passes `tsc --strict`."""
    spec, work = await generate(service, node_tools, tmp_path / "client")
    ids = sorted(op["operationId"] for ops in spec["paths"].values() for op in ops.values())
    (work / "operations.ts").write_text(
        'import type { operations } from "./api";\n'
        f"export const every: Array<keyof operations> = {json.dumps(ids)};\n")
    config = json.loads((work / "tsconfig.json").read_text())
    config["files"].append("operations.ts")
    (work / "tsconfig.json").write_text(json.dumps(config))
    compiled = node("tsc", "--project", str(work / "tsconfig.json"), cwd=work)
    assert (0, "") == (compiled.returncode, compiled.stdout + compiled.stderr)


@pytest.mark.parametrize(("line", "error"), [
    ('export const wrong = (c: import("./client").TenantConfig): number => c.plan;', "TS2322"),
    ('export const gone = (c: import("./client").TenantConfig): string => c.no_such_field;', "TS2339"),
    ('import type { operations } from "./api";\nexport type X = operations["no_such_operation"];', "TS2339"),
], ids=["a field used with the wrong type does not compile", "a field the document lacks does not compile",
        "an operation the document lacks does not compile"])
async def test_the_generated_types_are_checked_not_any(
        service: Service, node_tools: Path, tmp_path: Path, line: str, error: str) -> None:
    """The generated types are precise: a misuse of the API is a compile error, so the test above can fail."""
    _, work = await generate(service, node_tools, tmp_path / "client")
    (work / "misuse.ts").write_text(line + "\n")
    config = json.loads((work / "tsconfig.json").read_text())
    config["files"].append("misuse.ts")
    (work / "tsconfig.json").write_text(json.dumps(config))
    compiled = node("tsc", "--project", str(work / "tsconfig.json"), cwd=work)
    assert (2, True) == (compiled.returncode, f"error {error}" in compiled.stdout), compiled.stdout
