"""Memory: the service's RSS after 1,000,000 requests, and after a custom-metric cardinality attack.

    .venv/bin/python bench/memory.py [--requests 1000000] [--attack 200000]

The attack posts custom-metric samples each with a never-seen tag value (a wrk Lua script makes
each body unique), far past the per-tenant and service-wide series caps; the caps must hold
memory flat and /metrics must stay scrapeable.
"""

from __future__ import annotations

import argparse
import tempfile
import urllib.request
from pathlib import Path

from common import Server, table, wrk

ATTACK_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"name": "attack_metric", "value": 1, "tags": {"victim": "v' .. counter .. '"}}'
  return wrk.format("POST", "/api/monitoring/metrics/custom", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer %s"}, body)
end
"""


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--attack", type=int, default=200_000, help="distinct custom-metric tag sets to post")
    args = parser.parse_args()
    server = Server("memory", {})
    viewer, service_key = server.token("bench", "viewer"), server.token("bench", "service")
    server.start()
    rows = []
    try:
        rows.append(["after start", mib(server.rss_bytes()), 0])
        done = 0
        while done < args.requests:
            done += wrk(f"{server.url}/api/tenant/config", seconds=20, connections=50,
                        headers={"Authorization": f"Bearer {viewer}"}).requests
        rows.append([f"after {done:,} GET /api/tenant/config", mib(server.rss_bytes()), done])
        script = Path(tempfile.mkdtemp()) / "attack.lua"
        script.write_text(ATTACK_LUA % service_key)
        posted = 0
        while posted < args.attack:
            posted += wrk(server.url, seconds=15, connections=20, script=script).requests
        rows.append([f"after {posted:,} custom samples, each a new tag set", mib(server.rss_bytes()), posted])
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as r:
            text = r.read().decode()
        series = sum(1 for line in text.splitlines() if line.startswith("tenant_exporter_custom_attack_metric"))
        rows.append([f"/metrics still answers: {len(text):,} bytes, {series} attack series exported",
                     mib(server.rss_bytes()), ""])
    finally:
        server.stop()
    print(table(rows, ["when", "RSS", "requests"]))


if __name__ == "__main__":
    main()
