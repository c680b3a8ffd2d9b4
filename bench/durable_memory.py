"""What the evaluator's durable memory costs: bytes written per evaluation, and the encoding's CPU time.

    .venv/bin/python bench/durable_memory.py

A snapshot holds the families the signals read, summed over tenants (so its size does not grow with
them): requests by method, route and status, and the duration histogram by method and route. This
fills the request telemetry with R routes x 4 statuses x 20 tenants, takes one snapshot as the
evaluator does, and encodes it as it is written (msgpack, zlib level 1). Bytes are exact and do not
move with the machine; the CPU time does.
"""

from __future__ import annotations

import random
import time

from prometheus_client import CollectorRegistry

from exporter.monitoring.durable import decode, encode
from exporter.monitoring.signals import SNAPSHOT_SAMPLES
from exporter.monitoring.window import Snapshotter
from exporter.telemetry.http_metrics import HttpMetrics


def main() -> None:
    print("| routes | series in a snapshot | bytes written per evaluation | kept for a 5 m window (21) | "
          "snapshot µs (as before) | encode µs (added) | decode µs (at start) |")
    print("|---|---|---|---|---|---|---|")
    for routes in (10, 40, 100):
        registry = CollectorRegistry()
        metrics = HttpMetrics(registry, max_series=2000)
        rng = random.Random(1)
        for i in range(routes):
            for status in (200, 404, 429, 500):
                for tenant in range(20):
                    metrics.observe("GET", f"/api/route/{i}", status, f"tenant{tenant}", rng.random() / 10, 100, 1000)
        snapshotter = Snapshotter(registry, SNAPSHOT_SAMPLES, summed_away=("tenant",))
        start = time.perf_counter()
        for i in range(20):
            snapshot = snapshotter.take(i)
        taking = (time.perf_counter() - start) / 20 * 1e6
        series = sum(len(v) for v in snapshot.samples.values())
        start = time.perf_counter()
        for _ in range(100):
            blob = encode(snapshot)
        encoding = (time.perf_counter() - start) / 100 * 1e6
        start = time.perf_counter()
        for _ in range(100):
            decode(0, blob)
        decoding = (time.perf_counter() - start) / 100 * 1e6
        print(f"| {routes} | {series} | {len(blob):,} | {len(blob) * 21 / 1024:.0f} KiB | {taking:.0f} | "
              f"{encoding:.0f} | {decoding:.0f} |")


if __name__ == "__main__":
    main()
