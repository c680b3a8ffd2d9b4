"""The active API keys, in memory by token hash, refreshed from the store in the background.

Checking a token costs one hash and a dict lookup. A well-formed token that is not in memory (a
key just made by ``keys create`` in another process) is looked up once in the store,
single-flight, with a bounded negative cache.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import OrderedDict

from exporter.auth import tokens
from exporter.core.clock import Clock
from exporter.core.pacing import Pacer
from exporter.store import ApiKeyRecord, Store

PAGE = 2000  # keys read per query


class KeyRing:
    """The active API keys, by token hash."""

    def __init__(self, store: Store, clock: Clock, *, negative_cache: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._by_token: dict[str, ApiKeyRecord] = {}
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._negative_cache = negative_cache
        self._miss_lock = asyncio.Lock()
        self._used: set[str] = set()  # key ids used since the last flush (stamped at flush time)

    async def refresh(self) -> None:
        """Read every active key again, a page at a time (a SaaS has a key or more per tenant: 100,000
        rows at once would hold the loop), then swap them in."""
        by_hash: dict[str, ApiKeyRecord] = {}
        after: str | None = None
        pacer = Pacer()
        while True:
            page = await self._store.api_keys_page(tenant_id=None, after=after, limit=PAGE, include_revoked=False)
            by_hash.update((r.token_hash, r) for r in page)
            if len(page) < PAGE:
                break
            after = page[-1].id
            if pacer.due():
                await pacer.pause()
        self._by_hash = by_hash
        self._by_token = {}
        self._misses.clear()

    def add(self, record: ApiKeyRecord) -> None:
        self._by_hash[record.token_hash] = record
        self._misses.pop(record.token_hash, None)

    def remove(self, key_id: str) -> None:
        self._by_hash = {h: r for h, r in self._by_hash.items() if r.id != key_id}
        self._by_token = {t: r for t, r in self._by_token.items() if r.id != key_id}

    def known(self, token: str) -> ApiKeyRecord | None:
        """The key of a token already verified since the last refresh (and still active), else None.

        A dict compares a key's string only after its (randomised) hash matched, so this leaks no
        timing an attacker could use; the first check of every token goes through the digest.
        """
        record = self._by_token.get(token)
        if record is not None:
            self._used.add(record.id)
        return record

    async def lookup(self, token: str) -> ApiKeyRecord | None:
        record = self.known(token)
        if record is not None:
            return record
        if not tokens.well_formed(token):
            return None
        digest = tokens.token_hash(token)
        record = self._by_hash.get(digest) or await self._lookup_miss(digest)
        if record is None or not hmac.compare_digest(record.token_hash, digest):
            return None
        if len(self._by_token) < self._negative_cache:
            self._by_token[token] = record
        self._used.add(record.id)
        return record

    async def _lookup_miss(self, digest: str) -> ApiKeyRecord | None:
        if digest in self._misses:
            return None
        async with self._miss_lock:  # one store lookup at a time, however many bad tokens arrive
            if digest in self._by_hash:
                return self._by_hash[digest]
            if digest in self._misses:
                return None
            found = await self._store.find_api_key(digest)
            if found is None:
                self._misses[digest] = self._clock.monotonic()
                while len(self._misses) > self._negative_cache:
                    self._misses.popitem(last=False)
                return None
            self.add(found)
            return found

    def take_last_used(self) -> dict[str, float]:
        """``{key id: now}`` for the keys used since the last call (last-used is flush-accurate)."""
        used, self._used = self._used, set()
        now = self._clock.now()
        return dict.fromkeys(used, now)
