"""Per-tenant quota series, rendered once per change: for each limit, its usage and the limit itself.

Eight series per tenant, in base units (storage in bytes), the limit labelled ``enforcement="hard|soft"``:
what operators ask of a quota (how much is used, of how much, is it enforced). The ratio and the
80 % / 100 % crossings are derivable in PromQL (``usage / limit``), so they are not exported.

At 100,000 tenants that is 800,000 lines (~60 MB) of exposition: rendering them at every scrape would
hold the event loop for seconds, so, as kube-state-metrics keeps each object's rendered bytes, the
lines are rendered ahead of the scrape and kept, in blocks of ``BLOCK`` tenants per family. A change of
a tenant (its usage after a flush, its definition) marks its block; ``refresh()`` re-renders the
marked blocks in the background, 1 ms at a time, and a scrape only joins the kept bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client.utils import floatToGoString

from exporter.core.pacing import Pacer
from exporter.tenancy.catalog import Catalog, Tenant
from exporter.tenancy.usage import UsageTracker

BLOCK: Final = 256  # tenants per rendered block (~20 KB per family): re-rendering one takes about a millisecond
COALESCE_SECONDS: Final = 0.25


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    limit: str  # the limit kind (catalog.LIMIT_KINDS)
    is_limit: bool
    scale: float  # to the base unit


def _families() -> tuple[Family, ...]:
    rows = (("api_calls_per_month", "tenant_exporter_api_calls_this_month", "API calls counted this calendar month "
             "(UTC).", "tenant_exporter_api_calls_monthly_limit", "Monthly API call quota.", 1.0),
            ("storage_gb", "tenant_exporter_storage_used_bytes", "Storage in use, as last reported.",
             "tenant_exporter_storage_limit_bytes", "Storage limit.", 1e9),
            ("team_members", "tenant_exporter_team_members", "Active team members, as last reported.",
             "tenant_exporter_team_members_limit", "Team member limit.", 1.0),
            ("cases", "tenant_exporter_cases", "Cases created, as last reported.", "tenant_exporter_cases_limit",
             "Case limit.", 1.0))
    out: list[Family] = []
    for limit, used, used_help, cap, cap_help, scale in rows:
        out += [Family(used, used_help, limit, False, scale), Family(cap, cap_help, limit, True, scale)]
    return tuple(out)


FAMILIES: Final = _families()
NAMES: Final = frozenset(f.name for f in FAMILIES)
Header = Callable[[str, str], bytes]  # (name, help) -> the family's HELP/TYPE lines in the scrape's format


class QuotaSeries:
    """The eight quota families of every tenant, as kept exposition lines."""

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}  # tenant id -> its place in the blocks
        self._ids: list[str | None] = []  # place -> tenant id (None: free)
        self._free: list[int] = []
        self._blocks: list[list[bytes]] = [[] for _ in FAMILIES]  # family -> block -> its lines
        self._marked: set[str] = set()  # tenants changed since the last refresh
        self._everything = True  # every tenant changed (start, reload)
        self._dirty: set[int] = set()
        self._sizes: list[int] = []  # block -> tenants rendered in it
        self._values: dict[float, bytes] = {}
        self._wake = asyncio.Event()
        self.series = 0

    def mark(self, tenant_ids: Collection[str] | None) -> None:
        """These tenants changed (None: all of them); ``refresh()`` renders them again."""
        if tenant_ids is None:
            self._everything = True
        else:
            self._marked.update(tenant_ids)
        self._wake.set()

    async def run_forever(self, catalog: Callable[[], Catalog], usage: UsageTracker, *,
                          gather: float = COALESCE_SECONDS) -> None:
        """Refresh whenever something was marked, one refresh at a time; changes arriving within ``gather``
        seconds of each other (a burst of tenants provisioned) share one refresh."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(gather)
            self._wake.clear()
            await self.refresh(catalog(), usage)

    async def refresh(self, catalog: Catalog, usage: UsageTracker) -> None:
        """Render again the blocks of the tenants marked since the last call, giving the loop back every ms."""
        pacer = Pacer()
        tenants = catalog.tenants
        if self._everything:
            self._everything, self._marked = False, set()
            for tenant_id in list(self._slot):
                if tenant_id not in tenants:
                    self._release(tenant_id)
                if pacer.due():
                    await pacer.pause()
            for tenant_id in list(tenants):
                if tenant_id not in self._slot:
                    self._place(tenant_id)
                if pacer.due():
                    await pacer.pause()
            self._dirty = set(range(len(self._ids) // BLOCK + 1))
        else:
            marked, self._marked = self._marked, set()
            for tenant_id in marked:
                if tenant_id in tenants and tenant_id not in self._slot:
                    self._place(tenant_id)
                elif tenant_id not in tenants and tenant_id in self._slot:
                    self._release(tenant_id)
                if tenant_id in self._slot:
                    self._dirty.add(self._slot[tenant_id] // BLOCK)
                if pacer.due():
                    await pacer.pause()
        while self._dirty:
            self._render(self._dirty.pop(), tenants, usage)
            if pacer.due():
                await pacer.pause()
        self.series = len(self._slot) * len(FAMILIES)

    def _place(self, tenant_id: str) -> None:
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = tenant_id
        else:
            slot = len(self._ids)
            self._ids.append(tenant_id)
        self._slot[tenant_id] = slot

    def _release(self, tenant_id: str) -> None:
        slot = self._slot.pop(tenant_id)
        self._ids[slot] = None
        self._free.append(slot)
        self._dirty.add(slot // BLOCK)

    def _render(self, block: int, tenants: dict[str, Tenant], usage: UsageTracker) -> None:
        lines: list[list[bytes]] = [[] for _ in FAMILIES]
        value = self._value
        for tenant_id in self._ids[block * BLOCK:(block + 1) * BLOCK]:
            tenant = tenants.get(tenant_id) if tenant_id is not None else None
            if tenant is None:
                continue
            figures = usage.figures(tenant)
            label = tenant.id.encode()
            for index, family in enumerate(FAMILIES):
                figure = figures[family.limit]
                if family.is_limit:
                    lines[index].append(b'%s{enforcement="%s",tenant="%s"} %s\n' % (
                        family.name.encode(), figure.limit.enforcement.encode(), label,
                        value(figure.limit.value * family.scale)))
                else:
                    lines[index].append(b'%s{tenant="%s"} %s\n' % (family.name.encode(), label,
                                                                  value(figure.used * family.scale)))
        for index, blocks in enumerate(self._blocks):
            while len(blocks) <= block:
                blocks.append(b"")
            blocks[block] = b"".join(lines[index])
        while len(self._sizes) <= block:
            self._sizes.append(0)
        self._sizes[block] = len(lines[0])

    def _value(self, number: float) -> bytes:
        found = self._values.get(number)
        if found is None:
            if len(self._values) > 10_000:
                self._values.clear()
            found = self._values[number] = str(floatToGoString(number)).encode()  # type: ignore[no-untyped-call]
        return found

    def chunks(self, header: Header, wanted: Callable[[str], bool]) -> Iterator[tuple[bytes, int]]:
        """Each wanted family's header and kept blocks, with the number of samples each chunk holds."""
        for family, blocks in zip(FAMILIES, self._blocks, strict=True):
            if wanted(family.name):
                yield header(family.name, family.help), 0
                yield from zip(blocks, self._sizes, strict=False)
