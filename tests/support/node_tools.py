"""The node tools ``scripts/node-tools`` installs (pinned by ``tests/node/package-lock.json``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.helpers import ROOT

NODE_TOOLS = Path(os.environ.get("NODE_TOOLS_DIR", ROOT / ".cache" / "node-tools"))


def missing() -> str | None:
    """Why the tools cannot run here, or None when they can."""
    if not (NODE_TOOLS / "node_modules" / ".bin" / "tsc").exists():
        return f"no node tools in {NODE_TOOLS}: run scripts/node-tools"
    return None


def run(tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A tool of node_modules/.bin (``tsc``, ``openapi-typescript``), or ``node`` itself."""
    exe = "node" if tool == "node" else str(NODE_TOOLS / "node_modules" / ".bin" / tool)
    env = {**os.environ, "NODE_PATH": str(NODE_TOOLS / "node_modules")}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=180, cwd=cwd, env=env, check=False)
