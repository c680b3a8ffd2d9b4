"""`rules generate --format openslo`: every SLO of monitoring.yml as openslo/v1 documents that follow the spec
(one Service per probed service, one SLO per SLO, ratio indicators over the counters, calendar months, the
budgeting method each SLO is reported with)."""

from __future__ import annotations

import re

import yaml

from tests.support.helpers import ROOT, run_cli

NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # OpenSLO names are DNS labels


def documents() -> list[dict]:
    out = run_cli("rules", "generate", "--format", "openslo", "--config-dir", str(ROOT / "config"))
    assert 0 == out.returncode, out.stderr
    return list(yaml.safe_load_all(out.stdout))


def test_every_slo_becomes_an_openslo_document_with_its_budgeting_method() -> None:
    """The shipped config gives two Services and four SLOs: the probe SLOs by Timeslices (a slice per probe
    interval), the request and latency SLOs by Occurrences, each with its target."""
    docs = documents()
    assert [("Service", "api"), ("Service", "database"), ("SLO", "api-availability"), ("SLO", "database-availability"),
            ("SLO", "api-requests"), ("SLO", "api-latency")] == [(d["kind"], d["metadata"]["name"]) for d in docs]
    slos = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SLO"}
    assert {"api-availability": ("Timeslices", 0.999, 1, "15s"),
            "database-availability": ("Timeslices", 0.999, 1, "15s"),
            "api-requests": ("Occurrences", 0.995, None, None), "api-latency": ("Occurrences", 0.99, None, None)} == {
        name: (s["budgetingMethod"], s["objectives"][0]["target"], s["objectives"][0].get("timeSliceTarget"),
               s["objectives"][0].get("timeSliceWindow")) for name, s in slos.items()}


def test_the_documents_follow_the_openslo_v1_rules() -> None:
    """apiVersion openslo/v1, DNS-label names, a known service, one calendar-month window, a ratio indicator that is
    a counter with a total and exactly one of good or bad, each a Prometheus query, and targets in [0, 1)."""
    docs = documents()
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    for doc in docs:
        assert ("openslo/v1", True) == (doc["apiVersion"], bool(NAME.fullmatch(doc["metadata"]["name"])))
        if doc["kind"] != "SLO":
            continue
        spec = doc["spec"]
        ratio = spec["indicator"]["spec"]["ratioMetric"]
        sources = [ratio[k]["metricSource"] for k in ("good", "bad", "total") if k in ratio]
        assert (True, True, 1, [{"duration": "1M", "isRolling": False,
                                 "calendar": {"startTime": "2020-01-01 00:00:00", "timeZone": "UTC"}}]) == (
            spec["service"] in services, ratio["counter"], sum(k in ratio for k in ("good", "bad")),
            spec["timeWindow"])
        assert all(s["type"] == "Prometheus" and 'job="tenant-exporter"' in s["spec"]["query"] for s in sources)
        assert all(0 <= o["target"] < 1 for o in spec["objectives"])
