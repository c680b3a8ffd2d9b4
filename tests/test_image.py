"""The Dockerfile, replayed without a container engine (there is none here).

Its COPY lines are staged from the checkout's files minus ``.dockerignore`` (what a clean
checkout hands ``docker build``), its ``pip install .`` runs in a fresh virtual environment
from WORKDIR, and then its ENTRYPOINT + CMD start the service there with its ENV and the compose
file's environment, as ``docker compose up`` would; its HEALTHCHECK command must pass and the
key command from the compose file's header must work. What this catches: a file the image needs
but does not copy, package data missing from a non-editable install, a default that writes
outside ``/app/data`` (the only directory the image's user may write), ports that disagree.

Not replayed: FROM (the host's Python 3.11 stands in for ``python:3.11-slim``), ``useradd`` and
``chown`` (the write check above stands in for the unprivileged user).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporter.settings import Settings
from tests.support.compose import BASE, load
from tests.support.helpers import ROOT
from tests.support.service_process import free_port

pytestmark = pytest.mark.e2e  # real processes end to end: `-m 'not e2e'` for a quick run

COMPOSE = load(BASE)  # the user's environment sets nothing


@dataclass
class Dockerfile:
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)
    healthcheck: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def parse_dockerfile(text: str) -> Dockerfile:
    """The instructions this Dockerfile uses (continuation lines joined, comments dropped)."""
    out = Dockerfile()
    logical = text.replace("\\\n", " ")
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "FROM":
            out.base = rest
        elif op == "ENV":
            out.env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif op == "WORKDIR":
            out.workdir = rest
        elif op == "COPY":
            *sources, dest = shlex.split(rest)
            out.copies.append((sources, dest))
        elif op == "RUN":
            out.runs.append(rest)
        elif op == "EXPOSE":
            out.expose += [int(p.split("/")[0]) for p in rest.split()]
        elif op == "HEALTHCHECK":
            out.healthcheck = rest.split(" CMD ", 1)[1]
        elif op == "ENTRYPOINT":
            out.entrypoint = json.loads(rest)
        elif op == "CMD":
            out.cmd = json.loads(rest)
        elif op not in {"USER"}:
            raise AssertionError(f"Dockerfile instruction this replay does not know: {op}")
    return out


def build_context() -> list[str]:
    """The checkout's files (tracked, and new ones git does not ignore) that ``.dockerignore`` lets
    through, relative to the repository: what ``docker build`` gets from a clean clone plus your
    uncommitted files."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    files = [f for f in tracked.decode().split("\0") if f]

    def ignored(path: str) -> bool:  # a pattern that matches a directory excludes everything under it
        parts = path.split("/")
        for i in range(len(parts)):
            prefix = "/".join(parts[: i + 1])
            for pattern in patterns:
                if pattern.startswith("**/") and fnmatch.fnmatchcase(parts[i], pattern[3:]):
                    return True
                if fnmatch.fnmatchcase(prefix, pattern):
                    return True
        return False

    return [f for f in files if not ignored(f) and (ROOT / f).is_file()]


def stage(image: Dockerfile, context: list[str], root: Path) -> Path:
    """Copy what the COPY lines name into ``root`` + WORKDIR; return that directory."""
    workdir = root / image.workdir.lstrip("/")
    workdir.mkdir(parents=True)
    for sources, dest in image.copies:
        target = workdir / dest
        for source in sources:
            if source in context:  # a file: into the directory `dest/`, or as `dest`
                into = target / Path(source).name if dest.endswith("/") else target
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, into)
                continue
            under = [f for f in context if f.startswith(source.rstrip("/") + "/")]  # a directory: its contents
            assert under, f"COPY {source}: nothing in the build context"
            for f in under:
                into = target / Path(f).relative_to(source)
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f, into)
    return workdir


def snapshot(directory: Path) -> dict[str, float]:
    return {str(p.relative_to(directory)): p.stat().st_mtime for p in directory.rglob("*")}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return r.status, r.read()


def test_the_image_build_steps_give_a_service_that_runs_on_its_own_defaults(tmp_path: Path) -> None:
    """Replay the Dockerfile, start the service as the container would, check what a user does first."""
    image = parse_dockerfile((ROOT / "Dockerfile").read_text())
    compose = COMPOSE["services"]["tenant-exporter"]
    assert image.base.startswith("python:3.11"), image.base
    assert [Settings().port] == image.expose, "EXPOSE and the service's default port differ"
    assert f"http://127.0.0.1:{Settings().port}/-/ready" in image.healthcheck
    assert [f"{Settings().port}:{Settings().port}"] == compose["ports"]
    assert any("pip install ." in run for run in image.runs)
    assert any(f"{image.workdir}/data" in run and "chown" in run for run in image.runs)
    data_volume = next(v for v in compose["volumes"] if not v.startswith("./"))
    assert data_volume.endswith(f":{image.workdir}/data"), "the compose data volume is not the image's data dir"

    workdir = stage(image, build_context(), tmp_path / "image")
    venv = tmp_path / "image" / "usr-local"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, **image.env, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PIP_NO_CACHE_DIR", None)  # an image-size setting; the test keeps pip's cache so it runs fast
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "."], cwd=workdir,
                             env=env, capture_output=True, text=True, timeout=600, check=False)
    assert 0 == install.returncode, install.stdout + install.stderr
    (workdir / "data").mkdir()

    port = free_port()
    env.update({k: str(v) for k, v in compose.get("environment", {}).items()})
    env.update({"HOST": "127.0.0.1", "PORT": str(port)})  # loopback only, on a free port
    metrics_port = port
    if "METRICS_PORT" in env:  # the compose file's own listener for /metrics, here on a free port
        metrics_port = free_port()
        env["METRICS_PORT"] = str(metrics_port)
    for name in ("DATABASE_URL", "CONFIG_DIR", "LOG_LEVEL"):  # the image runs on its defaults
        env.pop(name, None)
    before = snapshot(workdir)
    argv = [shutil.which(image.entrypoint[0], path=env["PATH"]) or image.entrypoint[0], *image.entrypoint[1:],
            *image.cmd]
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        healthcheck = image.healthcheck.replace(f":{Settings().port}/", f":{port}/")
        deadline = time.monotonic() + 60
        while True:  # what Docker does until the container is healthy
            check = subprocess.run(["sh", "-c", healthcheck], env=env, capture_output=True, timeout=10, check=False)
            if check.returncode == 0 or proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert 0 == check.returncode, (tmp_path / "service.log").read_text()

        key_command = next(line for line in (ROOT / "docker-compose.yml").read_text().splitlines()
                           if "keys create" in line)
        key_argv = shlex.split(key_command.split("docker compose exec tenant-exporter ", 1)[1])
        created = subprocess.run(key_argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
                                 check=False)
        assert 0 == created.returncode, created.stderr
        token = created.stdout.strip().splitlines()[-1]
        url = f"http://127.0.0.1:{port}"
        status, body = get(f"{url}/api/tenant/config", {"Authorization": f"Bearer {token}"})
        assert (200, "default-tenant") == (status, json.loads(body)["id"])
        for path in ("/status", "/status/status.js", "/status/status.css", "/api/openapi.json"):
            assert 200 == get(url + path)[0], path
        assert 200 == get(f"http://127.0.0.1:{metrics_port}/metrics")[0]
    finally:
        proc.terminate()
        code = proc.wait(30)
        log.close()
    assert 0 == code, (tmp_path / "service.log").read_text()
    after = snapshot(workdir)
    written = sorted(p for p, mtime in after.items() if before.get(p) != mtime and p != "data"
                     and not p.startswith("data/"))
    assert [] == written, "the service wrote outside data/, which the image's user cannot"
    assert any(p.startswith("data/") for p in after), "the embedded database is not under data/"
