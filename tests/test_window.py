"""The evaluator's memory is bounded: the window keeps only what the range needs; active users are capped."""

from __future__ import annotations

from types import MappingProxyType

from exporter.monitoring.active_users import ActiveUsers
from exporter.monitoring.window import Snapshot, Window
from tests.support.helpers import FakeClock


def snapshot(t_ms: int, value: float) -> Snapshot:
    return Snapshot(t_ms, MappingProxyType({"c": MappingProxyType({(): value})}))


def test_the_window_keeps_the_range_and_nothing_older() -> None:
    """After an hour of 15 s snapshots a 5 m window holds 21 (both ends included), and answers ranges from them."""
    window = Window(300_000)
    for i in range(240):
        window.add(snapshot(i * 15_000, float(i)))
    assert (21, 3_285_000) == (len(window), window.oldest_ms)  # 3,585,000 - 5 m
    assert [(3_480_000, 232.0), (3_495_000, 233.0)] == window.range("c", 3_495_000, 15_000)[()]
    window.add(snapshot(3_585_000, 999.0))  # the same instant again replaces the newest
    assert (21, 999.0) == (len(window), window.range("c", 3_585_000, 0)[()][-1][1])


def test_active_users_are_capped_and_forget_the_least_recent() -> None:
    """Past max_entries the least recently seen key is forgotten; counting looks back only the window."""
    clock = FakeClock()
    users = ActiveUsers(clock, max_entries=3)
    for key in ("a", "b", "c", "d"):
        users.seen("acme", key)
        clock.advance(10)
    users.seen("globex", "b")  # "b" seen again, under another tenant: a separate principal
    assert (3, 1, 2) == (len(users.keys(3600)), len(users.keys(3600, "globex")), len(users.keys(15)))


def test_tenants_are_summed_and_a_new_series_counts_from_its_first_sample() -> None:
    """Summing the tenant label away keeps rate()'s rule: a series first seen later adds no increase
    for its past, only what it gains afterwards."""
    from prometheus_client import CollectorRegistry

    from exporter.monitoring.window import Snapshotter
    from exporter.telemetry.families import LoopCounter

    registry = CollectorRegistry()
    counter = LoopCounter("http_requests", "Requests.", ("route", "tenant"), max_series=100, overflow=("x", "x"))
    registry.register(counter)
    snap = Snapshotter(registry, ["http_requests_total"], summed_away=("tenant",))
    counter.inc(("/a", "acme"), 5)
    first = snap.take(0).samples["http_requests_total"][(("route", "/a"),)]
    counter.inc(("/a", "acme"), 1)
    counter.inc(("/a", "globex"), 40)  # a tenant's first request batch, before it was ever seen
    second = snap.take(15_000).samples["http_requests_total"][(("route", "/a"),)]
    counter.inc(("/a", "globex"), 2)
    third = snap.take(30_000).samples["http_requests_total"][(("route", "/a"),)]
    assert (5.0, 6.0, 8.0) == (first, second, third)
