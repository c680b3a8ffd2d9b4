"""The key ring and the authenticator on their own: a real store, keys made as `keys create` makes them, no app."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.auth import apikeys, tokens
from exporter.auth.authenticator import Authenticator
from exporter.auth.keyring import KeyRing
from exporter.config import load_config
from exporter.core.errors import Forbidden, NotFound, Unauthorized
from exporter.settings import Settings
from exporter.store import ApiKeyRecord, Store
from exporter.tenancy.catalog import Catalog
from tests.support.helpers import TWO_TENANTS, FakeClock, make_config_dir


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    config_dir = make_config_dir(tmp_path / "config", tenants=TWO_TENANTS)
    return load_config(Settings.from_env({}, config_dir=config_dir)).catalog


class CountingStore:
    """The real store, counting how often the ring asks it for one key."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.finds = 0

    async def api_keys_page(self, **page):  # type: ignore[no-untyped-def]
        return await self._store.api_keys_page(**page)

    async def find_api_key(self, token_hash: str):  # type: ignore[no-untyped-def]
        self.finds += 1
        return await self._store.find_api_key(token_hash)


async def test_the_ring_knows_refreshed_keys_and_finds_new_ones_once(store: Store, catalog: Catalog) -> None:
    """A key made before the refresh resolves from memory; one made after it (another process) costs one store
    lookup, then none; a revoked key is gone after the next refresh."""
    clock = FakeClock()
    old_token, old = await apikeys.create_key(store, catalog, clock, tenant_id="acme", role="viewer")
    counting = CountingStore(store)
    ring = KeyRing(counting, clock)  # type: ignore[arg-type]
    await ring.refresh()
    new_token, new = await apikeys.create_key(store, catalog, clock, tenant_id="globex", role="admin")
    found = [await ring.lookup(t) for t in (old_token, new_token, new_token)]
    assert ([old.id, new.id, new.id], 1) == ([r.id if r else None for r in found], counting.finds)
    await apikeys.revoke_key(store, clock, old.id)
    await ring.refresh()
    assert None is await ring.lookup(old_token)


async def test_the_ring_reads_many_keys_a_page_at_a_time(store: Store, catalog: Catalog) -> None:
    """4,500 keys (more than two pages): after a refresh every one resolves from memory, no store lookup."""
    clock = FakeClock()
    made = []
    for i in range(4500):
        token = tokens.new_token()
        record = ApiKeyRecord(f"key_{i:06d}", "acme", "viewer", "k", tokens.token_hash(token), tokens.hint(token),
                              clock.now())
        await store.insert_api_key(record)
        made.append((token, record))
    counting = CountingStore(store)
    ring = KeyRing(counting, clock)  # type: ignore[arg-type]
    await ring.refresh()
    found = [await ring.lookup(token) for token, _ in made]
    assert ([record.id for _, record in made], 0) == ([r.id if r else None for r in found], counting.finds)


async def test_malformed_and_unknown_tokens_cost_at_most_one_lookup_each(store: Store) -> None:
    """A token of the wrong shape or checksum never reaches the store; a well-formed unknown one is looked up
    once and then answered from the negative cache."""
    counting = CountingStore(store)
    ring = KeyRing(counting, FakeClock())  # type: ignore[arg-type]
    await ring.refresh()
    unknown = tokens.new_token()
    answers = [await ring.lookup(t) for t in ("not-a-token", unknown[:-1] + "x", unknown, unknown)]
    assert ([None, None, None, None], 1) == (answers, counting.finds)


async def test_used_keys_are_reported_once_per_flush(store: Store, catalog: Catalog) -> None:
    """``take_last_used`` names each key used since the last call, once."""
    clock = FakeClock()
    token, record = await apikeys.create_key(store, catalog, clock, tenant_id="acme", role="viewer")
    ring = KeyRing(store, clock)
    await ring.refresh()
    await ring.lookup(token)
    await ring.lookup(token)
    assert ({record.id: clock.now()}, {}) == (ring.take_last_used(), ring.take_last_used())


async def test_the_authenticator_resolves_the_principal_and_the_tenant(store: Store, catalog: Catalog,
                                                                      tmp_path: Path) -> None:
    """A viewer acts for its own tenant; an operator for the one it names; the answer is remembered until the
    catalog changes."""
    clock = FakeClock()
    viewer, _ = await apikeys.create_key(store, catalog, clock, tenant_id="acme", role="viewer")
    operator, _ = await apikeys.create_key(store, catalog, clock, tenant_id="acme", role="operator")
    ring = KeyRing(store, clock)
    await ring.refresh()
    auth = Authenticator(ring)
    mine = await auth.authenticate(viewer, None, catalog)
    theirs = await auth.authenticate(operator, "globex", catalog)
    assert (("acme", "viewer", "acme"), ("globex", "operator", "acme")) == (
        (mine.tenant.id, mine.principal.role, mine.principal.home_tenant_id),
        (theirs.tenant.id, theirs.principal.role, theirs.principal.home_tenant_id))
    reloaded = load_config(Settings.from_env({}, config_dir=tmp_path / "config")).catalog  # a reload: a new object
    assert (mine, None, None) == (auth.known(viewer, None, catalog), auth.known(viewer, "acme", catalog),
                                  auth.known(viewer, None, reloaded))


@pytest.mark.parametrize(("token", "requested", "error", "slug"), [
    (None, None, Unauthorized, "unauthorized"),
    ("tex_made_up", None, Unauthorized, "invalid-token"),
    ("viewer", "globex", Forbidden, "forbidden"),
    ("operator", "initech", NotFound, "unknown-tenant"),
], ids=["no token: 401 with a challenge", "a token that is not a key: 401 invalid-token",
        "a tenant key naming another tenant: 403", "an operator naming an unknown tenant: 404"])
async def test_the_authenticator_refuses(store: Store, catalog: Catalog, token: str | None, requested: str | None,
                                         error: type[Exception], slug: str) -> None:
    """Each way a token can fail gets its own problem, and a 401 carries `WWW-Authenticate: Bearer`."""
    clock = FakeClock()
    made = {role: (await apikeys.create_key(store, catalog, clock, tenant_id="acme", role=role))[0]
            for role in ("viewer", "operator")}
    ring = KeyRing(store, clock)
    await ring.refresh()
    with pytest.raises(error) as refused:
        await Authenticator(ring).authenticate(made.get(token or "", token), requested, catalog)
    assert slug == refused.value.slug  # type: ignore[attr-defined]
    if error is Unauthorized:
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer ")  # type: ignore[attr-defined]


async def test_a_token_is_remembered_under_the_header_it_came_in(store: Store, catalog: Catalog) -> None:
    """The access step looks up the Authorization header as sent: the same token in another spelling is
    checked afresh, and a revoked key is not answered from memory."""
    clock = FakeClock()
    token, record = await apikeys.create_key(store, catalog, clock, tenant_id="acme", role="viewer")
    ring = KeyRing(store, clock)
    await ring.refresh()
    auth = Authenticator(ring)
    hit = await auth.authenticate(token, None, catalog, credentials=f"Bearer {token}")
    assert (hit, None) == (auth.known(f"Bearer {token}", None, catalog), auth.known(f"bearer {token}", None, catalog))
    await apikeys.revoke_key(store, clock, record.id)
    ring.remove(record.id)
    assert auth.known(f"Bearer {token}", None, catalog) is None
