"""Zones, gateways, applications and device profiles: CRUD and tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.lorawan.types import EUI64
from services.storage import (
    AlreadyExists,
    Application,
    ConstraintViolation,
    DeviceClass,
    DeviceProfile,
    Gateway,
    Integrations,
    Location,
    NotFound,
    Storage,
    Webhook,
    Zone,
)

from .conftest import FakeClock, World, new_uuid

GW1 = EUI64.from_hex("AA555A0000000001")
GW2 = EUI64.from_hex("AA555A0000000002")


async def test_zone_crud(storage: Storage) -> None:
    z = await storage.zones.create(Zone(name="north", ledger_settings={"orderers": 1}))
    with pytest.raises(AlreadyExists):
        await storage.zones.create(Zone(name="north"))
    z.description = "north side"
    z.ledger_settings = {"orderers": 3}
    await storage.zones.update(z)
    got = await storage.zones.get("north")
    assert got is not None and got.ledger_settings == {"orderers": 3}
    assert got.description == "north side"
    assert (await storage.zones.list()).total == 1
    await storage.zones.delete("north")
    assert await storage.zones.get("north") is None
    with pytest.raises(NotFound):
        await storage.zones.delete("north")


async def test_gateway_crud_and_isolation(storage: Storage, world: World) -> None:
    await storage.zones.create(Zone(name="north"))
    gw = await storage.gateways.create(
        Gateway(
            gw_eui=GW1,
            tenant_id=world.t1.id,
            name="roof",
            zone="north",
            location=Location(latitude=48.85, longitude=2.35, altitude=35.0),
        )
    )
    assert gw.location == Location(latitude=48.85, longitude=2.35, altitude=35.0)
    with pytest.raises(AlreadyExists):
        await storage.gateways.create(Gateway(gw_eui=GW1))
    with pytest.raises(ConstraintViolation):
        await storage.gateways.create(Gateway(gw_eui=GW2, zone="nowhere"))
    assert await storage.gateways.get(GW1, tenant_id=world.t2.id) is None
    assert await storage.gateways.get(GW1, tenant_id=world.t1.id) == gw
    assert (await storage.gateways.list(tenant_id=world.t2.id)).total == 0
    assert (await storage.gateways.list(tenant_id=None, zone="north")).total == 1
    gw.name = "roof 2"
    with pytest.raises(NotFound):
        await storage.gateways.update(gw, tenant_id=world.t2.id)
    updated = await storage.gateways.update(gw, tenant_id=world.t1.id)
    assert updated.name == "roof 2"
    # deleting the zone keeps the gateway, zoneless
    await storage.zones.delete("north")
    got = await storage.gateways.get(GW1, tenant_id=None)
    assert got is not None and got.zone is None
    with pytest.raises(NotFound):
        await storage.gateways.delete(GW1, tenant_id=world.t2.id)
    await storage.gateways.delete(GW1, tenant_id=world.t1.id)
    assert await storage.gateways.get(GW1, tenant_id=None) is None


async def test_gateway_record_seen_upserts(
    storage: Storage, world: World, clock: FakeClock
) -> None:
    t0 = clock.now
    gw = await storage.gateways.record_seen(GW2, seen_at=t0, stats={"rxnb": 3})
    assert gw.tenant_id is None and gw.last_seen_at == t0 and gw.last_stats == {"rxnb": 3}
    t1 = t0 + timedelta(seconds=30)
    gw = await storage.gateways.record_seen(GW2, seen_at=t1)
    assert gw.last_seen_at == t1 and gw.last_stats == {"rxnb": 3}  # stats kept
    gw = await storage.gateways.record_seen(GW2, seen_at=t1, stats={"rxnb": 9})
    assert gw.last_stats == {"rxnb": 9}
    # unclaimed gateways are visible to admins only; an admin can claim one
    assert await storage.gateways.get(GW2, tenant_id=world.t1.id) is None
    gw.tenant_id = world.t1.id
    await storage.gateways.update(gw, tenant_id=None)
    claimed = await storage.gateways.get(GW2, tenant_id=world.t1.id)
    assert claimed is not None and claimed.last_seen_at == t1


async def test_application_crud_and_isolation(storage: Storage, world: World) -> None:
    integ = Integrations(
        mqtt_enabled=False,
        webhooks=[Webhook(url="http://127.0.0.1:9000/up", headers={"Authorization": "x"})],
        codec="cayenne_lpp",
    )
    app = await storage.applications.create(
        Application(tenant_id=world.t1.id, name="x", integrations=integ)
    )
    got = await storage.applications.get(app.id, tenant_id=world.t1.id)
    assert got is not None and got.integrations == integ
    assert await storage.applications.get(app.id, tenant_id=world.t2.id) is None
    page = await storage.applications.list(tenant_id=world.t1.id)
    assert {a.id for a in page.items} == {app.id, world.app1.id} and page.total == 2
    assert (await storage.applications.list(tenant_id=None)).total == 3
    app.name = "renamed"
    app.integrations = Integrations()
    with pytest.raises(NotFound):
        await storage.applications.update(app, tenant_id=world.t2.id)
    await storage.applications.update(app, tenant_id=world.t1.id)
    got = await storage.applications.get(app.id, tenant_id=None)
    assert got is not None and got.name == "renamed" and got.integrations.mqtt_enabled
    with pytest.raises(ConstraintViolation):
        await storage.applications.create(Application(tenant_id=new_uuid(), name="orphan"))
    with pytest.raises(NotFound):
        await storage.applications.delete(app.id, tenant_id=world.t2.id)
    await storage.applications.delete(app.id, tenant_id=world.t1.id)
    assert await storage.applications.get(app.id, tenant_id=None) is None


async def test_application_delete_removes_its_devices(storage: Storage, world: World) -> None:
    await storage.applications.delete(world.app1.id, tenant_id=world.t1.id)
    assert await storage.devices.get(world.dev1.dev_eui, tenant_id=None) is None


async def test_device_profile_crud_and_isolation(storage: Storage, world: World) -> None:
    prof = await storage.device_profiles.create(
        DeviceProfile(
            tenant_id=world.t1.id,
            name="us-c",
            region="US915",
            mac_version="1.1.0",
            device_class=DeviceClass.C,
            rx2_dr=8,
            rx2_freq=923_300_000,
            supports_join=False,
        )
    )
    got = await storage.device_profiles.get(prof.id, tenant_id=world.t1.id)
    assert got == prof and got.device_class is DeviceClass.C and got.rx2_freq == 923_300_000
    assert await storage.device_profiles.get(prof.id, tenant_id=world.t2.id) is None
    assert (await storage.device_profiles.list(tenant_id=world.t2.id)).total == 1
    prof.adr_policy = "drcc"
    prof.uplink_interval = 60
    await storage.device_profiles.update(prof, tenant_id=world.t1.id)
    got = await storage.device_profiles.get(prof.id, tenant_id=None)
    assert got is not None and got.adr_policy == "drcc" and got.uplink_interval == 60
    await storage.device_profiles.delete(prof.id, tenant_id=world.t1.id)
    assert await storage.device_profiles.get(prof.id, tenant_id=None) is None


async def test_device_profile_in_use_cannot_be_deleted(storage: Storage, world: World) -> None:
    with pytest.raises(ConstraintViolation):
        await storage.device_profiles.delete(world.prof1.id, tenant_id=world.t1.id)
    assert await storage.device_profiles.get(world.prof1.id, tenant_id=None) is not None
