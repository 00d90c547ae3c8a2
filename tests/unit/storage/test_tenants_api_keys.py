"""Tenants and API keys."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from services.lorawan.errors import InvalidParameter
from services.storage import (
    AlreadyExists,
    ApiKey,
    ConstraintViolation,
    NotFound,
    Storage,
    Tenant,
)

from .conftest import FakeClock, World, new_uuid


async def test_tenant_crud(storage: Storage, clock: FakeClock) -> None:
    t = await storage.tenants.create(Tenant(name="acme"))
    assert t.created_at == clock.now
    assert await storage.tenants.get(t.id) == t
    with pytest.raises(AlreadyExists):
        await storage.tenants.create(Tenant(id=t.id, name="again"))
    t.name = "acme corp"
    await storage.tenants.update(t)
    got = await storage.tenants.get(t.id)
    assert got is not None and got.name == "acme corp"
    await storage.tenants.delete(t.id)
    assert await storage.tenants.get(t.id) is None
    with pytest.raises(NotFound):
        await storage.tenants.delete(t.id)
    with pytest.raises(NotFound):
        await storage.tenants.update(t)


async def test_tenant_pagination(storage: Storage, clock: FakeClock) -> None:
    for i in range(7):
        clock.advance()
        await storage.tenants.create(Tenant(name=f"t{i}"))
    page = await storage.tenants.list(limit=3, offset=3)
    assert page.total == 7
    assert [t.name for t in page.items] == ["t3", "t4", "t5"]
    last = await storage.tenants.list(limit=3, offset=6)
    assert [t.name for t in last.items] == ["t6"]
    with pytest.raises(InvalidParameter):
        await storage.tenants.list(limit=0)
    with pytest.raises(InvalidParameter):
        await storage.tenants.list(offset=-1)


async def test_tenant_delete_cascades(storage: Storage, world: World) -> None:
    await storage.tenants.delete(world.t1.id)
    assert await storage.devices.get(world.dev1.dev_eui, tenant_id=None) is None
    assert await storage.applications.get(world.app1.id, tenant_id=None) is None
    assert await storage.device_profiles.get(world.prof1.id, tenant_id=None) is None
    # the other tenant is untouched
    assert await storage.devices.get(world.dev2.dev_eui, tenant_id=None) is not None


async def test_api_key_secret_shown_once_and_hashed(storage: Storage, world: World) -> None:
    key, secret = await storage.api_keys.create(ApiKey(name="ci", tenant_id=world.t1.id))
    assert secret.startswith("hlk_") and len(secret) > 40
    async with storage.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT key_hash FROM api_keys"))).all()
    assert rows == [(hashlib.sha256(secret.encode()).hexdigest(),)]
    assert secret not in str(rows)
    authed = await storage.api_keys.authenticate(secret)
    assert authed == key and authed.tenant_id == world.t1.id and not authed.is_admin
    assert await storage.api_keys.authenticate(secret + "x") is None
    assert await storage.api_keys.authenticate("") is None


async def test_api_key_admin_and_rules(storage: Storage, world: World) -> None:
    admin, secret = await storage.api_keys.create(ApiKey(name="root", is_admin=True))
    assert (await storage.api_keys.authenticate(secret)) == admin
    with pytest.raises(ConstraintViolation):
        await storage.api_keys.create(ApiKey(name="orphan"))
    with pytest.raises(ConstraintViolation):
        await storage.api_keys.create(ApiKey(name="ghost", tenant_id=new_uuid()))


async def test_api_key_tenant_isolation(storage: Storage, world: World) -> None:
    k1, _ = await storage.api_keys.create(ApiKey(name="a", tenant_id=world.t1.id))
    k2, s2 = await storage.api_keys.create(ApiKey(name="b", tenant_id=world.t2.id))
    assert [k.id for k in (await storage.api_keys.list(tenant_id=world.t1.id)).items] == [k1.id]
    assert (await storage.api_keys.list(tenant_id=None)).total == 2
    assert await storage.api_keys.get(k2.id, tenant_id=world.t1.id) is None
    with pytest.raises(NotFound):
        await storage.api_keys.delete(k2.id, tenant_id=world.t1.id)
    await storage.api_keys.delete(k2.id, tenant_id=world.t2.id)
    assert await storage.api_keys.authenticate(s2) is None


async def test_api_key_operator_chosen_secret(storage: Storage, world: World) -> None:
    chosen = "operator-chosen-admin-secret"
    key, secret = await storage.api_keys.create(ApiKey(name="boot", is_admin=True), secret=chosen)
    assert secret == chosen
    assert await storage.api_keys.authenticate(chosen) == key
    with pytest.raises(AlreadyExists):  # the same secret twice would be ambiguous
        await storage.api_keys.create(ApiKey(name="again", is_admin=True), secret=chosen)
    with pytest.raises(InvalidParameter):
        await storage.api_keys.create(ApiKey(name="short", is_admin=True), secret="short")
