"""Every tenant in one mapping: those of ``tenants.yml`` (or the environment's default tenant) and those
provisioned over the API, kept current as the store's rows change.

The mapping is the catalog's own ``tenants`` dict, changed in place on the event loop, so a request sees
a tenant as soon as it is applied and the catalog in force stays the same object between reloads. Work
over many tenants (a replica catching up, a reload rebuilding 100,000 of them against new plans) runs in
1 ms slices (``core/pacing.py``): requests keep moving while it runs, and a reload swaps in the new
mapping only once it is complete.

A ``tenants.yml`` tenant wins over an API row with the same id (the API refuses to create one, but the
file may gain it later). A row this replica cannot build (its plan is not in this replica's
``plans.yml`` yet) is left out, logged and counted, and built again at the next reload.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.core.errors import ConfigError, ConfigIssue
from exporter.core.pacing import Pacer
from exporter.store import TenantRecord
from exporter.tenancy.catalog import Catalog, Tenant
from exporter.tenancy.spec import IssueList, TenantBuilder, TenantSpec

log = logging.getLogger(__name__)
Listener = Callable[[Collection[str] | None], None]  # the ids that changed; None: every tenant

_decode = msgspec.json.Decoder(TenantSpec).decode
_encode = msgspec.json.Encoder().encode


def builder_for(catalog: Catalog) -> TenantBuilder:
    return TenantBuilder(catalog.plans, catalog.regions, catalog.features, catalog.version)


def build_row(builder: TenantBuilder, record: TenantRecord) -> tuple[Tenant | None, str]:
    """The tenant a stored row describes under ``builder``'s catalog, or None and why not."""
    try:
        spec = _decode(record.spec)
    except msgspec.DecodeError as e:
        return None, f"stored definition unreadable: {e}"
    issues = IssueList()
    tenant = builder.build(spec, issues, source="api", revision=record.revision, disabled=record.disabled)
    return tenant, "; ".join(f"{'.'.join(map(str, path))}: {message}" for path, message in issues.issues)


class TenantDirectory(Collector):
    def __init__(self, catalog: Catalog, registry: CollectorRegistry) -> None:
        self.catalog = catalog
        self.revision = 0  # the store revision applied so far
        self.retired: set[str] = set()  # ids of deleted tenants: their audit chains stay readable
        self.unbuilt: dict[str, TenantRecord] = {}  # rows this replica could not build, and keeps trying
        self.shadowed: dict[str, TenantRecord] = {}  # rows whose id tenants.yml took later (it wins)
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._releasing: set[asyncio.Future[None]] = set()
        self.builder = builder_for(catalog)  # of the catalog in force: what new and changed tenants are built with
        self._counts: Counter[tuple[str, str]] = Counter(_state(t) for t in catalog.tenants.values())
        registry.register(self)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def __contains__(self, tenant_id: object) -> bool:
        """A tenant this service serves or served (deleted ones keep their audit chains)."""
        return (tenant_id in self.catalog.tenants or tenant_id in self.retired or tenant_id in self.unbuilt
                or tenant_id in self.shadowed)

    async def apply(self, records: Sequence[TenantRecord], *, fetched: bool = True) -> list[str]:
        """Bring the tenants of ``records`` (rows from the store, in revision order) up to date.

        ``fetched=False`` for a row this process has just written: it is served at once, but the
        revision the directory has reached does not move (rows other replicas wrote before it may
        not have been fetched yet)."""
        changed: list[str] = []
        async with self._lock:
            pacer = Pacer()
            for record in records:
                if self._apply(record):
                    changed.append(record.id)
                if fetched:
                    self.revision = max(self.revision, record.revision)
                if pacer.due():
                    await pacer.pause()
        if changed:
            self._notify(changed)
        return changed

    def _apply(self, record: TenantRecord) -> bool:
        tenants = self.catalog.tenants
        current = tenants.get(record.id)
        if current is not None and current.source != "api":
            log.warning("tenant %r is in tenants.yml and provisioned over the API: tenants.yml wins", record.id)
            if record.deleted_at is None:
                self.shadowed[record.id] = record  # served again if tenants.yml drops it
            else:
                self.shadowed.pop(record.id, None)
                self.retired.add(record.id)
            return False
        if current is not None and current.revision >= record.revision:
            return False  # seen already (applied when it was written here, then fetched again)
        self.unbuilt.pop(record.id, None)
        if record.deleted_at is not None:
            self.retired.add(record.id)
            return self._drop(record.id)
        tenant, why = build_row(self.builder, record)
        if tenant is None:
            log.error("tenant %r (provisioned over the API) is left out: %s", record.id, why)
            self.unbuilt[record.id] = record
            return self._drop(record.id)
        self._put(tenant)
        return True

    def _put(self, tenant: Tenant) -> None:
        old = self.catalog.tenants.get(tenant.id)
        if old is not None:
            self._counts[_state(old)] -= 1
        self._counts[_state(tenant)] += 1
        self.catalog.tenants[tenant.id] = tenant

    def _drop(self, tenant_id: str) -> bool:
        old = self.catalog.tenants.pop(tenant_id, None)
        if old is not None:
            self._counts[_state(old)] -= 1
        return old is not None

    async def merge(self, new: Catalog) -> Catalog:
        """``new`` (just read from the files) with this directory's API tenants rebuilt against its plans.

        Raises ConfigError naming each API tenant the new files would leave without a plan or region,
        so that a reload cannot drop tenants the API created; until it returns, the old catalog stays.
        """
        async with self._lock:
            builder = builder_for(new)
            tenants = new.tenants
            rows: list[Tenant | TenantRecord] = [*self.catalog.tenants.values(), *self.unbuilt.values(),
                                                 *self.shadowed.values()]
            issues: list[ConfigIssue] = []
            unbuilt: dict[str, TenantRecord] = {}
            shadowed: dict[str, TenantRecord] = {}
            counts = Counter(_state(t) for t in tenants.values())
            pacer = Pacer()
            for item in rows:
                if pacer.due():
                    await pacer.pause()
                if isinstance(item, TenantRecord):
                    tenant, _ = build_row(builder, item)
                    if tenant is None:
                        unbuilt[item.id] = item
                        continue
                elif item.source != "api":
                    continue
                else:
                    issue_list = IssueList()
                    assert item.spec is not None
                    tenant = builder.build(item.spec, issue_list, source="api", revision=item.revision,
                                           disabled=item.disabled)
                    if tenant is None:
                        issues += [ConfigIssue("tenants (API)", None, ".".join(map(str, (item.id, *path))), message)
                                   for path, message in issue_list.issues]
                        continue
                if tenant.id in tenants:  # tenants.yml has it now: it wins
                    shadowed[tenant.id] = item if isinstance(item, TenantRecord) else _row(item)
                else:
                    tenants[tenant.id] = tenant
                    counts[_state(tenant)] += 1
            if issues:
                raise ConfigError(issues)
            old = self.catalog.tenants
            self.catalog, self.builder, self._counts = new, builder, counts
            self.unbuilt, self.shadowed = unbuilt, shadowed
        self._notify(None)
        self._release(old)
        return new

    def _release(self, tenants: dict[str, Tenant]) -> None:
        """Let go of a replaced mapping a slice at a time: freeing 100,000 tenants at once holds the loop
        for ~15 ms, wherever its last reference happens to drop."""
        async def release() -> None:
            pacer = Pacer()
            while tenants:
                tenants.popitem()
                if pacer.due():
                    await pacer.pause()

        task = asyncio.ensure_future(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def _notify(self, ids: Collection[str] | None) -> None:
        for listener in self._listeners:
            listener(ids)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("tenant_exporter_tenants", "", labels=["source", "state"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("tenant_exporter_tenants",
                                   "Tenants served, by where they are defined and whether they are disabled "
                                   "(unbuilt: provisioned with a plan or region this replica's files lack; "
                                   "shadowed: provisioned, then defined in tenants.yml, which wins).",
                                   labels=["source", "state"])
        counts = Counter(self._counts)
        counts[("api", "unbuilt")] += len(self.unbuilt)
        counts[("api", "shadowed")] += len(self.shadowed)
        for (source, state), n in sorted(counts.items()):
            family.add_metric([source, state], n)
        yield family
        yield GaugeMetricFamily("tenant_exporter_tenants_revision",
                                "The store revision of API-provisioned tenants this process has applied.",
                                value=self.revision)


def _row(tenant: Tenant) -> TenantRecord:
    """A served API tenant as the row it came from (enough to build it again)."""
    return TenantRecord(tenant.id, _encode(tenant.spec).decode(), tenant.disabled, 0.0, 0.0, tenant.revision)


def _state(tenant: Tenant) -> tuple[str, str]:
    return tenant.source, "disabled" if tenant.disabled else "active"
