"""Devices: CRUD, isolation, root keys encrypted at rest, DevNonce replay, JoinNonce."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.lorawan.errors import DevNonceReused, InvalidParameter
from services.lorawan.types import EUI64
from services.storage import (
    AlreadyExists,
    ConstraintViolation,
    Device,
    KeyDecryptionError,
    NotFound,
    Storage,
    build_storage,
)
from services.storage.db import create_engine

from .conftest import World, make_device, random_key

UNKNOWN = EUI64.from_hex("FFFFFFFFFFFFFFFF")


async def test_device_round_trip(storage: Storage, world: World) -> None:
    got = await storage.devices.get(world.dev1.dev_eui, tenant_id=world.t1.id)
    assert got == world.dev1
    assert got.nwk_key is not None and got.app_key is not None
    assert got.last_dev_nonce is None and got.join_nonce == 0 and got.enabled


async def test_device_create_checks(storage: Storage, world: World) -> None:
    with pytest.raises(AlreadyExists):
        await make_device(storage, world.t1, world.app1, world.prof1, world.dev1.dev_eui)
    # application or profile of another tenant
    with pytest.raises(ConstraintViolation):
        await make_device(storage, world.t1, world.app2, world.prof1, UNKNOWN)
    with pytest.raises(ConstraintViolation):
        await make_device(storage, world.t1, world.app1, world.prof2, UNKNOWN)


async def test_device_isolation_and_listing(storage: Storage, world: World) -> None:
    for i in range(5):
        await make_device(
            storage, world.t1, world.app1, world.prof1, EUI64.from_hex(f"00000000000000{i:02X}")
        )
    assert await storage.devices.get(world.dev1.dev_eui, tenant_id=world.t2.id) is None
    page = await storage.devices.list(tenant_id=world.t1.id, limit=2, offset=1)
    assert page.total == 6 and len(page.items) == 2
    assert [str(d.dev_eui) for d in page.items] == ["0000000000000001", "0000000000000002"]
    assert (await storage.devices.list(tenant_id=world.t2.id)).total == 1
    assert (await storage.devices.list(tenant_id=None)).total == 7
    assert (await storage.devices.list(tenant_id=None, application_id=world.app2.id)).total == 1
    assert (
        await storage.devices.list(tenant_id=world.t2.id, application_id=world.app1.id)
    ).total == 0


async def test_device_update_and_delete(storage: Storage, world: World) -> None:
    dev = world.dev1
    dev.name = "renamed"
    dev.enabled = False
    dev.app_key = None
    new_key = random_key()
    dev.nwk_key = new_key
    with pytest.raises(NotFound):
        await storage.devices.update(dev, tenant_id=world.t2.id)
    await storage.devices.update(dev, tenant_id=world.t1.id)
    got = await storage.devices.get(dev.dev_eui, tenant_id=None)
    assert got is not None and got.name == "renamed" and not got.enabled
    assert got.nwk_key == new_key and got.app_key is None
    # cannot be moved to another tenant's application
    dev.application_id = world.app2.id
    with pytest.raises(ConstraintViolation):
        await storage.devices.update(dev, tenant_id=None)
    with pytest.raises(NotFound):
        await storage.devices.delete(dev.dev_eui, tenant_id=world.t2.id)
    await storage.devices.delete(dev.dev_eui, tenant_id=world.t1.id)
    assert await storage.devices.get(dev.dev_eui, tenant_id=None) is None


async def test_root_keys_not_stored_in_clear(storage: Storage, world: World) -> None:
    dev = world.dev1
    assert dev.nwk_key is not None and dev.app_key is not None
    async with storage.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT nwk_key, app_key FROM devices WHERE dev_eui = :e"),
                {"e": str(dev.dev_eui)},
            )
        ).one()
    raw = bytes(row[0]) + bytes(row[1])
    for key in (dev.nwk_key, dev.app_key):
        assert key.value not in raw
        assert key.value.hex().encode() not in raw
    assert len(row[0]) == 45


async def test_wrong_kek_fails_clearly(storage: Storage, world: World, db_url: str) -> None:
    other = build_storage(create_engine(db_url), bytes(32))
    try:
        with pytest.raises(KeyDecryptionError, match=r"devices\.nwk_key"):
            await other.devices.get(world.dev1.dev_eui, tenant_id=None)
    finally:
        await other.close()


async def test_swapped_key_ciphertext_refused(storage: Storage, world: World) -> None:
    async with storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE devices SET nwk_key = (SELECT nwk_key FROM devices WHERE dev_eui = :src) "
                "WHERE dev_eui = :dst"
            ),
            {"src": str(world.dev2.dev_eui), "dst": str(world.dev1.dev_eui)},
        )
    with pytest.raises(KeyDecryptionError):
        await storage.devices.get(world.dev1.dev_eui, tenant_id=None)


async def test_dev_nonce_set_mode(storage: Storage, world: World) -> None:
    """LoRaWAN 1.0.0-1.0.3: random DevNonces, any order, never twice."""
    e = world.dev1.dev_eui
    for nonce in (0x1234, 0x0001, 0xFFFF, 0x0000):
        await storage.devices.check_and_record_dev_nonce(e, nonce, strict_increasing=False)
    for nonce in (0x1234, 0x0001, 0xFFFF, 0x0000):
        with pytest.raises(DevNonceReused):
            await storage.devices.check_and_record_dev_nonce(e, nonce, strict_increasing=False)
    got = await storage.devices.get(e, tenant_id=None)
    assert got is not None and got.last_dev_nonce == 0x0000
    # per device: another device may use the same value
    await storage.devices.check_and_record_dev_nonce(
        world.dev2.dev_eui, 0x1234, strict_increasing=False
    )


async def test_dev_nonce_strict_mode(storage: Storage, world: World) -> None:
    """LoRaWAN 1.0.4 / 1.1: DevNonce is a counter, each one must exceed the last."""
    e = world.dev1.dev_eui
    await storage.devices.check_and_record_dev_nonce(e, 0, strict_increasing=True)
    await storage.devices.check_and_record_dev_nonce(e, 1, strict_increasing=True)
    await storage.devices.check_and_record_dev_nonce(e, 10, strict_increasing=True)
    for nonce in (10, 9, 0):
        with pytest.raises(DevNonceReused):
            await storage.devices.check_and_record_dev_nonce(e, nonce, strict_increasing=True)
    got = await storage.devices.get(e, tenant_id=None)
    assert got is not None and got.last_dev_nonce == 10


async def test_dev_nonce_errors(storage: Storage, world: World) -> None:
    for strict in (True, False):
        with pytest.raises(NotFound):
            await storage.devices.check_and_record_dev_nonce(UNKNOWN, 1, strict_increasing=strict)
        with pytest.raises(InvalidParameter):
            await storage.devices.check_and_record_dev_nonce(
                world.dev1.dev_eui, 0x10000, strict_increasing=strict
            )


@pytest.mark.parametrize("strict", [True, False])
async def test_dev_nonce_concurrent_replay_accepted_once(
    storage: Storage, world: World, strict: bool
) -> None:
    async def attempt() -> bool:
        try:
            await storage.devices.check_and_record_dev_nonce(
                world.dev1.dev_eui, 7, strict_increasing=strict
            )
        except DevNonceReused:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    assert results.count(True) == 1


async def test_join_nonce_increments(storage: Storage, world: World) -> None:
    values = [await storage.devices.next_join_nonce(world.dev1.dev_eui) for _ in range(3)]
    assert values == [1, 2, 3]
    assert await storage.devices.next_join_nonce(world.dev2.dev_eui) == 1
    concurrent = await asyncio.gather(
        *(storage.devices.next_join_nonce(world.dev1.dev_eui) for _ in range(6))
    )
    assert sorted(concurrent) == [4, 5, 6, 7, 8, 9]
    got = await storage.devices.get(world.dev1.dev_eui, tenant_id=None)
    assert got is not None and got.join_nonce == 9
    with pytest.raises(NotFound):
        await storage.devices.next_join_nonce(UNKNOWN)


async def test_update_leaves_nonce_state(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    await storage.devices.check_and_record_dev_nonce(e, 5, strict_increasing=True)
    await storage.devices.next_join_nonce(e)
    stale = Device(
        dev_eui=e,
        tenant_id=world.t1.id,
        application_id=world.app1.id,
        device_profile_id=world.prof1.id,
        name="x",
    )
    await storage.devices.update(stale, tenant_id=world.t1.id)
    got = await storage.devices.get(e, tenant_id=None)
    assert got is not None and got.last_dev_nonce == 5 and got.join_nonce == 1


async def test_concurrent_creates_one_wins(storage: Storage, world: World) -> None:
    eui = EUI64.from_hex("0A0B0C0D0E0F0001")

    async def attempt() -> bool:
        try:
            await make_device(storage, world.t1, world.app1, world.prof1, eui)
        except AlreadyExists:
            return False
        return True

    assert (await asyncio.gather(*(attempt() for _ in range(6)))).count(True) == 1
