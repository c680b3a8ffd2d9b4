"""What one evaluator for a fleet costs, as the replicas grow: the evaluator's work per evaluation, and the
bytes every replica reads.

    .venv/bin/python bench/fleet_evaluation.py [--replicas 1 3 10 30] [--routes 40]

Each replica's request telemetry is filled with R routes x 4 statuses x 20 tenants and moved on at every
evaluation, as a replica under steady traffic does. A 5 m window at 15 s holds 21 snapshots per replica.
Per evaluation the evaluator decodes each replica's new snapshot (as read from ``monitoring_snapshots``),
evaluates every signal and the health view over the fleet's window, and encodes the evaluation it
publishes (``fleet_evaluation``), which each other replica reads and decodes once per evaluation. Bytes
are exact; the microseconds move with the machine's other work (the median of 20 evaluations).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from prometheus_client import CollectorRegistry

from exporter.monitoring import durable, fleet
from exporter.monitoring.signals import SIGNALS, SNAPSHOT_SAMPLES
from exporter.monitoring.view import compute_view
from exporter.monitoring.window import Snapshotter
from exporter.telemetry.http_metrics import HttpMetrics

STEP_MS, WINDOW_MS = 15_000, 300_000


class Replica:
    def __init__(self, routes: int, seed: int) -> None:
        self.registry = CollectorRegistry()
        self.metrics = HttpMetrics(self.registry, max_series=5000)
        self.rng = random.Random(seed)
        self.routes = routes
        self.snapshotter = Snapshotter(self.registry, SNAPSHOT_SAMPLES, summed_away=("tenant",))
        self.traffic()

    def traffic(self) -> None:
        for i in range(self.routes):
            for status in (200, 404, 429, 500):
                for tenant in range(20):
                    self.metrics.observe("GET", f"/api/route/{i}", status, f"tenant{tenant}", self.rng.random() / 10,
                                         100, 1000)

    def snapshot_row(self, t_ms: int) -> bytes:
        self.traffic()
        return durable.encode(self.snapshotter.take(t_ms))


def measure(replicas: int, routes: int) -> tuple[int, int, int, float, float, float]:
    fleet_window = fleet.FleetWindow(WINDOW_MS)
    members = [Replica(routes, seed) for seed in range(replicas)]
    names = [f"replica-{i}:8000" for i in range(replicas)]
    t_ms = 0
    for _ in range(21):  # a full window first
        t_ms += STEP_MS
        for name, member in zip(names, members, strict=True):
            fleet_window.add_from(name, durable.decode(t_ms, member.snapshot_row(t_ms)))
    reading, evaluating, publishing = [], [], []
    row_bytes = doc_bytes = 0
    for _ in range(20):
        t_ms += STEP_MS
        rows = [(name, member.snapshot_row(t_ms)) for name, member in zip(names, members, strict=True)]
        row_bytes = sum(len(data) for _, data in rows)
        start = time.perf_counter()
        for name, data in rows:
            fleet_window.add_from(name, durable.decode(t_ms, data))
        fleet_window.expire(t_ms)
        reading.append(time.perf_counter() - start)
        start = time.perf_counter()
        signals = {name: signal.evaluate(fleet_window, t_ms, WINDOW_MS) for name, signal in SIGNALS.items()}
        view = compute_view(fleet_window, t_ms, WINDOW_MS)
        evaluating.append(time.perf_counter() - start)
        assert signals["error_rate"]
        start = time.perf_counter()
        blob = fleet.encode(fleet.published(t_ms, names[0], 0, view, [], {}, {}))
        fleet.decode(blob)
        publishing.append(time.perf_counter() - start)
        doc_bytes = len(blob)
    series = sum(len(v) for v in durable.decode(0, rows[0][1]).samples.values())
    return (series, row_bytes, doc_bytes, statistics.median(reading) * 1e3, statistics.median(evaluating) * 1e3,
            statistics.median(publishing) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--routes", type=int, default=40)
    args = parser.parse_args()
    print("| replicas | series per snapshot | bytes read per evaluation (snapshots) | bytes published | "
          "read + decode ms | evaluate ms | publish + read back ms |")
    print("|---|---|---|---|---|---|---|")
    for n in args.replicas:
        series, row_bytes, doc_bytes, reading, evaluating, publishing = measure(n, args.routes)
        print(f"| {n} | {series} | {row_bytes:,} | {doc_bytes:,} | {reading:.1f} | {evaluating:.1f} | "
              f"{publishing:.2f} |")


if __name__ == "__main__":
    main()
