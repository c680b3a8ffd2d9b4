"""The loop-only counters and histograms expose exactly what prometheus_client's would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from exporter.telemetry.families import LoopCounter, LoopHistogram
from exporter.telemetry.http_metrics import DURATION_BUCKETS

VALUES = [0.0, 0.001, 0.005, 0.0050001, 0.3, 0.5, 0.5000001, 0.75, 1.0, 9.99, 10.0, 12.5, 1e6]


def test_histogram_matches_prometheus_client_including_bucket_edges() -> None:
    """Observations on a bucket edge land in that bucket (le is inclusive), as in prometheus_client."""
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = LoopHistogram("lat_seconds", "Latency.", ("route",), DURATION_BUCKETS, max_series=10,
                         overflow=("__overflow__",))
    ours_registry.register(ours)
    theirs = Histogram("lat_seconds", "Latency.", ["route"], buckets=DURATION_BUCKETS, registry=theirs_registry)
    for v in VALUES:
        ours.observe(("/a",), v)
        theirs.labels("/a").observe(v)
    expected = [line for line in generate_latest(theirs_registry).decode().splitlines() if "_created" not in line]
    assert expected == generate_latest(ours_registry).decode().splitlines()


def test_counter_matches_prometheus_client() -> None:
    """A LoopCounter renders as the equivalent prometheus_client Counter does."""
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = LoopCounter("hits", "Hits.", ("route", "status"), max_series=10, overflow=("x", "x"))
    ours_registry.register(ours)
    theirs = Counter("hits", "Hits.", ["route", "status"], registry=theirs_registry)
    for route, status in [("/a", "200"), ("/a", "200"), ("/b", "500")]:
        ours.inc((route, status))
        theirs.labels(route, status).inc()
    expected = [line for line in generate_latest(theirs_registry).decode().splitlines() if "_created" not in line]
    assert expected == generate_latest(ours_registry).decode().splitlines()


@pytest.mark.parametrize("cap", [1, 3], ids=["cap of one", "cap of three"])
def test_label_sets_past_the_cap_go_to_overflow(cap: int) -> None:
    """Past max_series, new label sets share the overflow key and are counted as overflowed."""
    counter = LoopCounter("hits", "Hits.", ("route",), max_series=cap, overflow=("__overflow__",))
    for i in range(cap + 5):
        counter.inc((f"/r{i}",))
    assert cap + 1 == len(counter.counts)
    assert (5, 5) == (counter.overflowed, counter.counts[("__overflow__",)])
