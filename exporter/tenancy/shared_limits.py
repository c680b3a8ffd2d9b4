"""Per-second rate limits shared by every replica: decided locally, counted globally (``REDIS_URL``).

A request is admitted while its tenant's *credit* on this replica lasts: a counter, no await, no
Redis call. Every admission is charged, at the next sync, to the tenant's GCRA in Redis
(``redis_gcra.py``), which answers the bucket's level and the number n of replicas serving the
tenant; the new credit is this replica's share, ``floor(level / n)``, less what it admitted while
the sync was on its way. Syncs run every ``RATE_LIMIT_SYNC_INTERVAL`` (``limit_sync.py``), and
sooner when a credit runs below half of what the last sync gave or a request is refused.

How far the fleet can overshoot one token bucket of the plan's rate and burst: every admission is
charged, so over any stretch of time the fleet admits at most what that bucket would (``rate * t +
burst``) plus the credits handed out and not yet charged. A credit is a share of what the bucket
held, at most ``burst / n``: n is the replicas serving the tenant at the last sync, or for a
tenant this replica has not synced yet, the live replicas. When the replicas agree on n, that is
at most one burst over the fleet; at worst (each replica counting itself alone) one burst per
replica. An overshoot is debt, paid back before the bucket grants again: it does not recur every
interval, and the long-run rate is the plan's exactly. ``docs/operations.md`` states this with
what ``bench/fleet_rate.py`` measured.

While Redis is unreachable (``active`` False) ``quota.py`` falls back to each replica's own
token bucket (fail open), counted in ``fail_open``; the first sync that succeeds shares again.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from exporter.tenancy.catalog import RateLimit
from exporter.tenancy.redis_gcra import Charge, Level

LINGER_SYNCS = 20  # a tenant no request asked for is still synced this many times (its credit stays fresh)


@dataclass(slots=True, eq=False)
class Share:
    """One tenant's credit on this replica, and what the last sync said about the fleet's bucket."""

    tenant_id: str
    rate: float
    burst: int
    credit: int  # admissions left before the next sync answers
    low: int  # below this credit, ask for a sync now (half of what the last sync gave)
    spent: int = 0  # admitted since the last sync was sent: the next one charges it
    sending: int = 0  # admitted before the sync on its way was sent: charged by it
    level: int = 0  # the bucket's whole tokens at the last sync (negative: in debt)
    full_in: float = 0.0  # seconds from the last sync until the bucket is full again
    synced_at: float = -math.inf  # monotonic time of the last answer (-inf: none yet)
    wanted: bool = True  # a request asked since the last sync
    idle_syncs: int = 0

    def remaining(self) -> int:
        """The fleet's tokens as this replica knows them: the bucket at the last sync, less what it admitted since."""
        if self.synced_at == -math.inf:
            return self.credit
        return max(0, min(self.burst, self.level - self.sending - self.spent))

    def reset(self, now: float) -> int:
        """Whole seconds until the fleet's bucket is full again."""
        if self.synced_at == -math.inf:
            return math.ceil((self.burst - self.credit) / self.rate) if self.credit < self.burst else 0
        left = self.full_in - (now - self.synced_at) + (self.sending + self.spent) / self.rate
        return max(0, math.ceil(left))

    def retry_after(self, now: float) -> int:
        """Whole seconds until this replica can admit again: its next sync, or the bucket's next token when in debt."""
        short = 1 - (self.level - self.sending - self.spent)
        # tokens left (in other replicas' shares or the bucket), or no sync yet: the next sync gives some
        if short <= 0 or self.synced_at == -math.inf:
            return 1
        return max(1, math.ceil(short / self.rate - (now - self.synced_at)))


class SharedLimits:
    """Every tenant's share on this replica; ``limit_sync.py`` settles them with Redis."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()  # set when a sync is wanted before the interval is up
        self._wake = self.wake.set
        self._shares: dict[str, Share] = {}
        self.fleet = 1  # live replicas, as the last sync counted them
        self.active = False  # shared once a sync succeeds; False: each replica limits on its own
        self.fail_open = 0  # requests decided by this replica's own bucket while Redis was unreachable

    def share(self, tenant_id: str, rate: RateLimit) -> Share:
        """The tenant's share; a new one starts with a fleet's share of a full bucket, and asks for a sync."""
        share = self._shares.get(tenant_id)
        if share is None or share.rate != rate.requests_per_second or share.burst != rate.burst:
            cold = max(1, rate.burst // self.fleet)
            share = self._shares[tenant_id] = Share(tenant_id, rate.requests_per_second, rate.burst, cold, cold // 2)
            self._wake()
        return share

    def take(self, share: Share) -> bool:
        """Admit one request against the share's credit (no I/O); False when the credit is spent."""
        share.wanted = True
        if share.credit > 0:
            share.credit -= 1
            share.spent += 1
            if share.credit < share.low:
                self._wake()
            return True
        self._wake()
        return False

    def serving(self) -> bool:
        """Whether any tenant has a share here (asked for, or lingering after its last request)."""
        return bool(self._shares)

    def noted(self, tenant_id: str, rate: RateLimit) -> None:
        """A request decided by the local bucket (Redis unreachable): counted, and synced once Redis is back."""
        self.fail_open += 1
        self.share(tenant_id, rate).wanted = True

    def due(self) -> list[Share]:
        """The shares the next sync settles (asked for lately, or with admissions to charge), marked as sent.

        A share idle for ``LINGER_SYNCS`` syncs is forgotten: the tenant's next request starts a new one,
        rather than one whose credit is long out of date.
        """
        out, idle = [], []
        for share in self._shares.values():
            if share.wanted:
                share.wanted, share.idle_syncs = False, 0
            elif share.spent == 0 and share.idle_syncs >= LINGER_SYNCS:
                idle.append(share.tenant_id)
                continue
            else:
                share.idle_syncs += 1
            share.sending, share.spent = share.spent, 0
            out.append(share)
        for tenant_id in idle:
            del self._shares[tenant_id]
        return out

    @staticmethod
    def charges(shares: list[Share]) -> list[Charge]:
        return [Charge(s.tenant_id, s.rate, s.burst, s.sending) for s in shares]

    def settled(self, shares: list[Share], fleet: int, levels: list[Level], now: float) -> None:
        """Redis answered: each share's new credit is its part of the bucket, less what it admitted meanwhile."""
        self.fleet = fleet
        for share, level in zip(shares, levels, strict=True):
            fair = min(share.burst, level.tokens // level.replicas) if level.tokens > 0 else 0
            share.credit = max(0, fair - share.spent)
            share.low = fair // 2
            share.level, share.full_in, share.synced_at, share.sending = level.tokens, level.full_in, now, 0
        self.active = True

    def failed(self, shares: list[Share]) -> None:
        """The sync did not get through: what it carried is not charged; each replica limits on its own."""
        for share in shares:
            share.sending = 0
        self.active = False
