"""Test helpers: a clock the test moves, config directories, and token creation."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporter.auth import apikeys
from exporter.store import Store
from exporter.tenancy.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]  # the repository (tests/support/helpers.py)
SHIPPED_CONFIG = ROOT / "config"


@dataclass
class FakeClock:
    """Wall time and monotonic time that move only when the test says so."""

    wall: float = 1_795_000_000.0  # 2026-11-18T...Z
    mono: float = 1_000.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def make_config_dir(dest: Path, tenants: list[dict] | None = None, **replace_files: str) -> Path:
    """Copy the shipped config to ``dest``; optionally set tenants or replace whole files."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in SHIPPED_CONFIG.glob("*.yml"):
        shutil.copy(f, dest / f.name)
    if tenants is not None:
        (dest / "tenants.yml").write_text(yaml.safe_dump({"version": 1, "tenants": tenants}, sort_keys=False))
    for name, text in replace_files.items():
        (dest / name).write_text(text)
    return dest


TWO_TENANTS = [
    {"id": "acme", "name": "Acme Corp", "domain": "acme.example.com", "plan": "enterprise", "region": "eu-west",
     "features": {"remove": ["ai_orchestration"]}, "limits": {"cases": 250000}},
    {"id": "globex", "name": "Globex", "plan": "free", "region": "us-east",
     "features": {"add": ["advanced_analytics"]}},
]


async def make_token(store: Store, catalog: Catalog, clock: FakeClock, tenant: str, role: str) -> str:
    token, _ = await apikeys.create_key(store, catalog, clock, tenant_id=tenant, role=role, name=f"{tenant}-{role}")
    return token


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def eventually(check: Callable[[], Any], what: str = "the condition", *, deadline: float = 60.0) -> Any:
    """Call ``check`` (sync or async) every 0.25 s until it returns something truthy, and return that;
    fail naming ``what`` and the last value after ``deadline`` seconds."""
    last: Any = None
    try:
        async with asyncio.timeout(deadline):
            while True:
                last = check()
                if asyncio.iscoroutine(last):
                    last = await last
                if last:
                    return last
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"{what}: never happened (last: {last!r})") from None


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tenant-exporter *args``; ``env`` adds to this process's environment."""
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, env={**os.environ, **env} if env else None)
