"""Changes made on one replica that every replica applies, through the database every replica shares.

A replica that makes a change (a config reload) ``publish``es it: the topic's generation goes up
by one in ``fleet_changes``. Every replica polls that table every ``FLEET_POLL_INTERVAL``
seconds and hands each topic whose generation moved past the one it last saw to that topic's
subscriber, once per move (several moves between two polls are applied once: each subscriber
re-reads its whole source). Polling rather than PostgreSQL's LISTEN/NOTIFY: one small indexed
read per second per replica, the same on SQLite, and nothing to re-establish after the database
comes back; a change missed while the database was away is applied at the first poll after.

A topic is a name and a subscriber; the config is one (``config.py``), and others can subscribe
their own (tenants stored in the database, say) without a second mechanism.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from exporter.core.clock import Clock
from exporter.core.errors import StoreError
from exporter.core.polling import poll_forever
from exporter.store.protocol import Store
from exporter.store.records import FleetChange

log = logging.getLogger(__name__)

Subscriber = Callable[[FleetChange], Awaitable[None]]


class ChangeFeed:
    def __init__(self, store: Store, clock: Clock, origin: str) -> None:
        self._store = store
        self._clock = clock
        self.origin = origin  # this replica's name, recorded with what it publishes
        self._subscribers: dict[str, Subscriber] = {}
        self._seen: dict[str, int] = {}
        self._unpublished: dict[str, str] = {}  # topic -> version, published when the database is back

    def subscribe(self, topic: str, apply: Subscriber) -> None:
        self._subscribers[topic] = apply

    def seen(self, topic: str) -> int:
        """The generation of ``topic`` this replica has applied (0: none since the table began)."""
        return self._seen.get(topic, 0)

    async def start(self) -> None:
        """Take the generations in the database as applied: a replica that starts reads its sources anyway."""
        for topic, change in (await self._store.fleet_changes()).items():
            self._seen[topic] = change.generation

    async def publish(self, topic: str, version: str) -> FleetChange | None:
        """Tell the other replicas; None when the database is away (then it is told at the first poll that works)."""
        try:
            change = await self._store.publish_change(topic, version, self.origin, self._clock.now())
        except StoreError as e:
            log.warning("%s change not yet passed on to the other replicas (at the next poll): %s", topic, e)
            self._unpublished[topic] = version
            return None
        self._unpublished.pop(topic, None)
        self._seen[topic] = max(self.seen(topic), change.generation)
        return change

    async def poll(self) -> None:
        """Publish what could not be, then apply every topic that moved since the last poll (raises StoreError
        when the database is away)."""
        for topic, version in list(self._unpublished.items()):
            change = await self._store.publish_change(topic, version, self.origin, self._clock.now())
            del self._unpublished[topic]
            self._seen[topic] = max(self.seen(topic), change.generation)
        for topic, change in (await self._store.fleet_changes()).items():
            apply = self._subscribers.get(topic)
            if apply is None or change.generation <= self.seen(topic):
                continue
            self._seen[topic] = change.generation
            await apply(change)

    async def run_forever(self, interval: float) -> None:
        await poll_forever(self.poll, interval, "changes made on other replicas")
