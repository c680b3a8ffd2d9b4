"""Instructions per call of each step of the service's request path, in-process, under callgrind.

    .venv/bin/python bench/request_steps.py [--calls 20000]

``bench/instructions.py`` counts whole requests; this splits the service's share of them. The
app is built as ``serve`` builds it (bench config, SQLite), a token is verified once, then one
step is called ``--calls`` times on prepared requests (aiohttp's ``make_mocked_request`` with a
plain transport; the coroutines are driven without the event loop, none of them suspends).
Each step runs in its own process under ``valgrind --tool=callgrind``, and once with no calls:
(total - total without calls) / calls is one call's cost, start-up excluded. Two processes run
at a time; about 4 minutes on this 2-core machine.

Steps: ``step``, the whole wrapped route (``exporter/http/pipeline.py``, what the service runs
per request besides aiohttp); ``handler``, the route's own handler (cached body, ``web.Response``);
``bare-handler``, a handler returning a ``web.Response`` of the same bytes (what the bare app's
handler costs); ``access``, ``Access.admit_known`` (token, active users, quota, role); ``quota``,
``QuotaEnforcer.admit_lines`` alone; ``request-id``, ``request_id_for``; ``telemetry``,
``HttpMetrics.record``. Internals are reached by name: this script follows the code it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import PYTHON, bench_config, table

STEPS = ("step", "handler", "bare-handler", "access", "quota", "request-id", "telemetry", "noop")
PATH = "/api/tenant/config"


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the step suspended: it is not on its fast path")


async def run(step: str, calls: int, workdir: Path) -> None:
    """In the measured process: build the app, warm it, call ``step`` ``calls`` times."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from exporter.app.composition import PIPELINE, create_app
    from exporter.app.services import SERVICES
    from exporter.auth.principal import ANY_ROLE
    from exporter.http.caller import TENANT
    from exporter.http.pipeline import response_bytes
    from exporter.http.problems import request_id_for
    from exporter.settings import Settings

    app = create_app(Settings.from_env())
    runner = web.AppRunner(app)
    await runner.setup()

    class Transport:  # a connection that stays open (make_mocked_request's default is a Mock)
        def is_closing(self) -> bool:
            return False

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return default

    headers = {"Authorization": f"Bearer {(workdir / 'token').read_text().strip()}", "Host": "bench"}
    first = make_mocked_request("GET", PATH, app=app, headers=headers, transport=Transport())
    match = await app.router.resolve(first)
    pool = [make_mocked_request("GET", PATH, app=app, headers=headers, match_info=match, transport=Transport())
            for _ in range(64)]
    wrapped = match.handler
    for request in pool:
        await wrapped(request)  # the token verified and cached, the body encoded, TENANT on every request
    handler = wrapped.__wrapped__
    access = app[SERVICES].access
    quota = access._quota
    metrics = app[PIPELINE]._metrics
    assert metrics is not None
    tenant = pool[0][TENANT]
    response = await handler(pool[0])
    body = response.body

    async def bare_handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    one: dict[str, Callable[[web.Request], object]] = {
        "step": lambda r: drive(wrapped(r)),
        "handler": lambda r: drive(handler(r)),
        "bare-handler": lambda r: drive(bare_handler(r)),
        "access": lambda r: access.admit_known(r, ANY_ROLE),
        "quota": lambda r: quota.admit_lines(tenant),
        "request-id": request_id_for,
        "telemetry": lambda r: metrics.finish(r.method, PATH, 200, tenant.id, 0.001, r.content_length or 0,
                                              response_bytes(response)),
        "noop": lambda r: None,  # the measuring loop's own cost, subtracted from the others
    }
    call = one[step]
    for i in range(calls):
        call(pool[i & 63])
    await runner.cleanup()


def instructions(step: str, calls: int, workdir: Path) -> int:
    out = workdir / f"callgrind.{step}.{calls}"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", PYTHON, __file__, "--child", step,
                    "--calls", str(calls), "--workdir", str(workdir)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    match = re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.M)
    assert match is not None, out
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--child", choices=STEPS)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.child:
        os.environ.update({"CONFIG_DIR": str(args.workdir / "config"),
                           "DATABASE_URL": f"sqlite:///{args.workdir}/bench.db", "LOG_LEVEL": "WARNING"})
        asyncio.run(run(args.child, args.calls, args.workdir))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-steps-"))
    env = {**os.environ, "CONFIG_DIR": str(bench_config(workdir / "config")),
           "DATABASE_URL": f"sqlite:///{workdir}/bench.db"}
    token = subprocess.run([PYTHON, "-m", "exporter", "keys", "create", "--tenant", "bench", "--role", "viewer"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    (workdir / "token").write_text(token)
    jobs = [(step, calls) for step in STEPS for calls in (0, args.calls)]
    with ThreadPoolExecutor(2) as pool:
        totals = dict(zip(jobs, pool.map(lambda job: instructions(*job, workdir), jobs), strict=True))
    shutil.rmtree(workdir, ignore_errors=True)
    per_call = {step: (totals[(step, args.calls)] - totals[(step, 0)]) / args.calls for step in STEPS}
    rows = [[step, f"{per_call[step] - per_call['noop']:,.0f}"] for step in STEPS if step != "noop"]
    print(f"{args.calls} calls per step; a step's instructions with them less without them, per call, less the "
          f"measuring loop's own {per_call['noop']:,.0f}\n")
    print(table(rows, ["step", "instructions per call"]))


if __name__ == "__main__":
    main()
