"""Distinct principals (API keys) seen recently: the ``active_users`` of the health endpoint.

The request pipeline's access step records the key of every authenticated request here, in an
ordered dict, most recent last, capped at ``max_entries`` (the least recently seen is forgotten
first): O(1) per request, bounded memory.

In a fleet every replica sees only its own requests: ``take_recent`` hands the keys seen since the
last call to the evaluator's snapshot (``fleet_engine.py``), which counts them over every replica.
"""

from __future__ import annotations

from collections import OrderedDict

from exporter.core.clock import Clock


class ActiveUsers:
    def __init__(self, clock: Clock, *, max_entries: int = 50_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._taken_at = float("-inf")

    def seen(self, tenant_id: str, key_id: str) -> None:
        key = (tenant_id, key_id)
        self._seen[key] = self._clock.now()
        self._seen.move_to_end(key)
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def take_recent(self) -> dict[tuple[str, str], float]:
        """The keys seen since the previous call, with when each was last seen."""
        since, self._taken_at = self._taken_at, self._clock.now()
        out: dict[tuple[str, str], float] = {}
        for key, at in reversed(self._seen.items()):
            if at < since:
                break
            out[key] = at
        return out

    def keys(self, window_seconds: float, tenant_id: str | None = None) -> set[tuple[str, str]]:
        """The (tenant, key id) pairs seen in the last ``window_seconds`` (of ``tenant_id``, or of every tenant)."""
        cutoff = self._clock.now() - window_seconds
        out = set()
        for key, at in reversed(self._seen.items()):
            if at < cutoff:
                break
            if tenant_id is None or key[0] == tenant_id:
                out.add(key)
        return out
