"""One GCRA per tenant in Redis, kept atomically by a Lua script on Redis's clock.

A sync sends, for each tenant a replica is serving, the requests it admitted since its last sync
(``spent``). The script, for all of them in one call and one round trip:

1. reads Redis's clock (``TIME``: one clock for the whole fleet, whatever the replicas' clocks say),
   notes the replica as alive (a sorted set by time) and counts the replicas seen within ``stale``;
2. charges ``spent`` to the tenant's theoretical arrival time (TAT), unconditionally: every
   admitted request is paid for, so the fleet's long-run rate is the plan's rate exactly; a bucket
   overdrawn by replicas deciding at once goes into debt, which later syncs see;
3. notes the replica as serving the tenant, and counts the replicas that did so within ``stale``;
4. answers the bucket's level (whole tokens left, negative in debt), that count, and the time
   until the bucket is full again.

Times are integer microseconds (Lua numbers are doubles: exact to 2^53, some 285 years of them).
Keys expire when their bucket is full and nobody has synced for ``stale``, so idle tenants cost no memory.
All keys are in one call: with Redis Cluster, put the prefix in a hash tag (``{tenant-exporter}:``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local replica, stale = ARGV[1], tonumber(ARGV[2])
local keep_set = math.floor(stale / 1000) + 1
local function serving(set)
  redis.call('ZADD', set, now, replica)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now - stale)
  redis.call('PEXPIRE', set, keep_set)
  return redis.call('ZCARD', set)
end
local out = {serving(KEYS[1])}
for i = 1, (#KEYS - 1) / 2 do
  local bucket, replicas = KEYS[2 * i], KEYS[2 * i + 1]
  local interval = tonumber(ARGV[3 * i])
  local capacity = tonumber(ARGV[3 * i + 1])
  local spent = tonumber(ARGV[3 * i + 2])
  local tat = math.max(tonumber(redis.call('GET', bucket) or 0), now) + spent * interval
  local level = math.floor((now + capacity * interval - tat) / interval)
  redis.call('SET', bucket, string.format('%d', tat), 'PX', math.floor((tat - now + stale) / 1000) + 1)
  out[i + 1] = {level, serving(replicas), tat - now}
end
return out
"""


@dataclass(frozen=True, slots=True)
class Charge:
    """What a sync sends for one tenant."""

    tenant_id: str
    rate: float  # requests per second
    burst: int
    spent: int  # requests admitted since the last sync


@dataclass(frozen=True, slots=True)
class Level:
    """What Redis answered for one tenant, right after charging it."""

    tokens: int  # whole tokens left in the bucket (negative: in debt)
    replicas: int  # replicas that synced this tenant within the stale time, this one included
    full_in: float  # seconds until the bucket is full again


def interval_us(rate: float) -> int:
    """The GCRA's emission interval in whole microseconds (at least 1: a million requests per second)."""
    return max(1, round(1_000_000 / rate))


class RedisGcra:
    """The Redis side of the shared rate limits: ``settle`` is the one command a sync sends."""

    def __init__(self, url: str, *, prefix: str, replica: str, timeout: float, stale: float) -> None:
        # No retries inside the client: a sync that fails is the caller's to handle (it fails open
        # and tries again on its own schedule), and a retry would only hold up that decision.
        self._redis: Redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                            retry=Retry(NoBackoff(), 0))
        self._script = self._redis.register_script(SCRIPT)
        self._prefix = prefix
        self._replica = replica
        self._stale_us = round(stale * 1_000_000)

    def keys(self, tenant_id: str) -> tuple[str, str]:
        """The tenant's bucket and the set of replicas serving it."""
        return f"{self._prefix}rl:{tenant_id}:tat", f"{self._prefix}rl:{tenant_id}:replicas"

    async def settle(self, charges: Sequence[Charge]) -> tuple[int, list[Level]]:
        """Charge what each tenant spent: the number of live replicas, and each tenant's level.

        Raises redis' errors (or OSError) when Redis cannot be reached.
        """
        keys: list[str] = [f"{self._prefix}replicas"]
        args: list[Any] = [self._replica, self._stale_us]
        for c in charges:
            keys.extend(self.keys(c.tenant_id))
            args.extend((interval_us(c.rate), c.burst, c.spent))
        fleet, *rows = await self._script(keys=keys, args=args)
        return max(1, int(fleet)), [Level(int(tokens), max(1, int(replicas)), int(full_in) / 1_000_000)
                                    for tokens, replicas, full_in in rows]

    async def close(self) -> None:
        await self._redis.aclose()
