"""A large, realistic audit log, generated fast and sealed into valid hash chains (for bench/audit_scale.py).

One tenant (``bigco``) holds ``BIG_SHARE`` of the events, ``SMALL_TENANTS`` others share the rest, in
one time order over ``SPAN`` seconds ending now. Per event, drawn from a seeded RNG:

- 70 % ``usage.report`` by one of the tenant's service keys (3 % fail: ``quota_exceeded``), 25 %
  ``metric.custom.submit`` naming 1-3 of ``METRIC_WORDS`` metric names, 5 % key and alert changes
  (``api_key.create|revoke`` by an admin key or the CLI user ``root``, ``alert.acknowledge``);
- a few planted needles for the searches: ``RARE_NOTE`` in ``RARE_EVERY``-th events (about 100 in
  10 M), ``OLD_WORD`` in every event of the oldest 1 % (common, but only long ago).

Records are sealed with the service's own ``seal`` (so ``audit verify`` checks them), but built
directly as tuples, without the per-event overhead of the recorder.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

from exporter.audit.chain import seal
from exporter.audit.events import SCHEMA_VERSION
from exporter.store.records import GENESIS_HASH, AuditRecord

BIG: Final = "bigco"
BIG_SHARE: Final = 0.9
SMALL_TENANTS: Final = 1000
SPAN: Final = 365 * 86_400.0
SERVICE_KEYS: Final = 20  # per tenant; key 0 sends ~1/3 of a tenant's usage reports
ADMINS: Final = ("alice", "bob", "carol", "dave")
METRIC_WORDS: Final = tuple(f"{a}_{b}" for a in ("checkout", "search", "login", "upload", "billing", "export",
                                                 "render", "sync", "queue", "cache")
                            for b in ("latency", "errors", "requests", "bytes", "retries", "depth", "hits",
                                      "misses", "saturation", "timeouts", "drops", "lag", "size", "age",
                                      "spills", "evictions", "restarts", "forks", "locks", "waits"))
RARE_NOTE: Final = "incident-4711"
RARE_EVERY: Final = 100_000
OLD_WORD: Final = "legacy_import"
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def tenant_of(rng: random.Random) -> str:
    return BIG if rng.random() < BIG_SHARE else f"t{rng.randrange(SMALL_TENANTS):04d}"


def _ulid(ms: int, rng: random.Random) -> str:
    value = (ms & (2**48 - 1)) << 80 | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _service_key(tenant: str, rng: random.Random) -> tuple[str, str]:
    k = 0 if rng.random() < 1 / 3 else rng.randrange(1, SERVICE_KEYS)
    return f"key_{tenant}_svc{k:02d}", f"svc-{k:02d}"


def _event(tenant: str, i: int, now: float, n: int, rng: random.Random) -> tuple[str, ...]:
    """action, actor (type, id, name, role), target (type, id, name), outcome, reason, details."""
    roll = rng.random()
    old = f',"source":"{OLD_WORD}"' if i < n // 100 else ""
    note = f',"note":"{RARE_NOTE} follow-up"' if i % RARE_EVERY == RARE_EVERY // 2 else ""
    if roll < 0.70:
        key_id, key_name = _service_key(tenant, rng)
        failed = rng.random() < 0.03
        details = (f'{{"values":{{"cases_created":{rng.randrange(1000)},'
                   f'"storage_used_gb":{rng.randrange(5000) / 10}}}{old}{note}}}')
        return ("usage.report", "api_key", key_id, key_name, "service", "usage", tenant, "",
                "failure" if failed else "success", "quota_exceeded" if failed else "", details)
    if roll < 0.95:
        key_id, key_name = _service_key(tenant, rng)
        names = ",".join(f'"{w}"' for w in sorted(rng.sample(METRIC_WORDS, rng.randint(1, 3))))
        details = f'{{"accepted":{rng.randrange(500)},"names":[{names}],"refused":0{old}{note}}}'
        return ("metric.custom.submit", "api_key", key_id, key_name, "service", "metric", "custom", "", "success",
                "", details)
    admin = rng.choice(ADMINS)
    key = f"key_{tenant}_{rng.getrandbits(32):08x}"
    if roll < 0.975:
        actor = ("cli", "root", "root", "") if rng.random() < 0.2 else ("api_key", f"key_{tenant}_{admin}", admin,
                                                                         "admin")
        action = "api_key.create" if roll < 0.965 else "api_key.revoke"
        return (action, *actor, "api_key", key, f"deploy-{admin}", "success", "",
                f'{{"role":"service"{old}{note}}}')
    rule = rng.choice(("HighErrorRate", "HighLatency", "DiskFull"))
    return ("alert.acknowledge", "api_key", f"key_{tenant}_{admin}", admin, "admin", "alert", rule, rule, "success",
            "", f'{{"note":"looking into {rule.lower()}"{old}{note}}}')


def corpus(n: int, *, seed: int = 17, end: float, batch: int = 50_000) -> Iterator[list[AuditRecord]]:
    """``n`` sealed events, oldest first, ``batch`` at a time; each tenant's chain starts at seq 1."""
    rng = random.Random(seed)
    heads: dict[str, tuple[int, str]] = {}
    start = end - SPAN
    step = SPAN / max(1, n)
    out: list[AuditRecord] = []
    for i in range(n):
        now = round(start + i * step + rng.random() * step * 0.5, 6)
        tenant = tenant_of(rng)
        seq, prev = heads.get(tenant, (0, GENESIS_HASH))
        (action, a_type, a_id, a_name, a_role, t_type, t_id, t_name, outcome, reason, details) = _event(
            tenant, i, now, n, rng)
        ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}"
        record = AuditRecord(tenant, seq + 1, _ulid(int(now * 1000), rng), now, action, a_type, a_id, a_name, a_role,
                             t_type, t_id, t_name, outcome, reason, f"req-{i:010d}", ip, "bench/1.0", details,
                             SCHEMA_VERSION, prev, "")
        record = seal(record, seq + 1, prev)
        heads[tenant] = (seq + 1, record.hash)
        out.append(record)
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


def heads_of(records: list[AuditRecord], heads: dict[str, tuple[int, str, float]]) -> None:
    """Track each tenant's last (seq, hash, time), for the chain-head rows written after the events."""
    for r in records:
        heads[r.tenant_id] = (r.seq, r.hash, r.time)
