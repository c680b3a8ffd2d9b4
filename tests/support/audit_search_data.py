"""A small audit log with every kind of value a search must tell apart, and the answer computed in Python.

``events()`` gives sealed-ready records for three tenants (``big`` holds most): actors whose name is
another's id, an action that shares a prefix with another's (``api_keys.rotate`` / ``api_key.*``),
details holding ``%``, ``_``, quotes and mixed case, times that tie, and events inserted out of
time order (as a jittering clock or a second writer would leave them). ``expected()`` filters and
orders them the way the API defines a search, with no SQL and no index: the oracle.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence

from exporter.audit.chain import seal
from exporter.audit.events import SCHEMA_VERSION
from exporter.store import AuditFilter, AuditRecord, Store

START = 1_795_000_000.0
ACTORS = [  # (id, name): "ops" names a key in two tenants; "key_carol" is also someone's name
    ("key_alice", "alice"), ("key_bob", "bob"), ("key_svc", "ops"), ("key_svc2", "ops"), ("root", "root"),
    ("key_mallory", "key_carol"),
]
ACTIONS = ["usage.report", "usage.report", "usage.report", "api_key.create", "api_key.revoke", "api_keys.rotate",
           "alert.acknowledge", "metric.custom.submit"]
WORDS = ["alpha", "Beta", "gamma_delta", "100%", 'say "quoted"', "back\\slash", "plain"]


def events(n: int = 600, seed: int = 7, spacing: float = 2.0) -> list[AuditRecord]:
    """``n`` records ``spacing`` seconds apart (give or take), in insertion order, with seq and hash still to
    be set by the store."""
    rng = random.Random(seed)
    out: list[AuditRecord] = []
    for i in range(n):
        tenant = "big" if i % 10 < 8 else ("small" if i % 10 == 8 else "tiny")
        time = START + i * spacing + rng.choice((0.0, 0.5, 1.0))
        if i % 37 == 5:
            time -= 300.0  # inserted late: older than the rows around it
        if i % 50 == 7 and out:
            time = out[-1].time  # a tie on time
        actor_id, actor_name = ACTORS[i % len(ACTORS)]
        action = ACTIONS[rng.randrange(len(ACTIONS))]
        words = rng.sample(WORDS, 2)
        target = ("api_key", f"key_{i % 13}", f"Key {i % 13}") if action.startswith("api_key") else (
            "usage", tenant, "" if i % 3 else "Quarterly Report")
        out.append(AuditRecord(
            tenant, 0, f"01J{i:023d}", round(time, 6), action, "api_key", actor_id, actor_name, "admin",
            *target, "failure" if i % 11 == 0 else "success", "quota" if i % 11 == 0 else "", f"req-{i % 97}",
            "10.0.0.1", "test", json.dumps({"n": i, "note": " ".join(words)}, sort_keys=True), SCHEMA_VERSION,
            "", ""))
    return out


async def write(store: Store, records: Sequence[AuditRecord], batch: int = 200) -> None:
    for i in range(0, len(records), batch):
        await store.append_audit(records[i:i + batch], seal)


def expected(records: Iterable[AuditRecord], flt: AuditFilter, *, newest_first: bool = True) -> list[str]:
    """The ids a search returns, in order: each filter as the API documents it, applied row by row."""
    def keep(r: AuditRecord) -> bool:
        text = flt.text.lower() if flt.text else None
        return ((flt.tenant_ids is None or r.tenant_id in flt.tenant_ids)
                and (not flt.actor or flt.actor in (r.actor_id, r.actor_name))
                and (not flt.action or r.action.startswith(flt.action))
                and (not flt.target or flt.target in (r.target_id, r.target_name))
                and (not flt.outcome or r.outcome == flt.outcome)
                and (flt.since is None or r.time >= flt.since)
                and (flt.until is None or r.time < flt.until)
                and (text is None or text in r.details.lower() or text in r.target_name.lower())
                and (not flt.request_id or r.request_id == flt.request_id))

    kept = sorted((r for r in records if keep(r)), key=lambda r: (r.time, r.id), reverse=newest_first)
    return [r.id for r in kept]


async def search_all(store: Store, flt: AuditFilter, *, limit: int, newest_first: bool = True) -> list[str]:
    """Every page of a search, following the cursor as a client does."""
    ids: list[str] = []
    after: tuple[float, str] | None = None
    for _ in range(10_000):
        rows = await store.audit_page(flt, limit=limit + 1, after=after, newest_first=newest_first)
        ids += [r.id for r in rows[:limit]]
        if len(rows) <= limit:
            return ids
        after = (rows[limit - 1].time, rows[limit - 1].id)
    raise AssertionError("the cursor never reached the end")

