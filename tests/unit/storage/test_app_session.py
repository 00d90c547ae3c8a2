"""App sessions: AppSKey encrypted at rest, idempotent create, NS counters, CAS reservation."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.storage import KeyDecryptionError, NotFound, Storage
from services.storage.crypto import KeyCipher
from services.storage.models import AppSessionRow
from services.storage.repositories.app_session import AppSession, AppSessionRepo

from .conftest import World

KEY = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
S1 = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
S2 = uuid.UUID("00000000-0000-4000-8000-0000000000a2")


def _session(dev_eui: EUI64, session_id: uuid.UUID = S1, **kw: object) -> AppSession:
    return AppSession(
        dev_eui=dev_eui,
        session_id=session_id,
        dev_addr=DevAddr.from_hex("26011BDA"),
        join_eui=EUI64.from_hex("70B3D57ED0000000"),
        mac_version="1.0.3",
        app_s_key=KEY,
        **kw,  # type: ignore[arg-type]
    )


async def test_create_get_and_key_encrypted_at_rest(storage: Storage, world: World) -> None:
    stored = await storage.app_sessions.create(_session(world.dev1.dev_eui))
    assert stored.created_at is not None
    got = await storage.app_sessions.get(world.dev1.dev_eui)
    assert got is not None
    assert got.app_s_key == KEY and got.session_id == S1
    assert str(got.dev_addr) == "26011BDA" and str(got.join_eui) == "70B3D57ED0000000"
    assert got.last_a_f_cnt_down_reserved is None and got.n_f_cnt_down is None
    async with storage.app_sessions._sessions() as s:
        blob = await s.scalar(select(AppSessionRow.app_s_key))
    assert blob is not None and KEY.value not in blob and len(blob) == 1 + 12 + 16 + 16
    assert await storage.app_sessions.get(world.dev2.dev_eui) is None


async def test_wrong_kek_cannot_read_the_key(storage: Storage, world: World) -> None:
    await storage.app_sessions.create(_session(world.dev1.dev_eui))
    other = AppSessionRepo(storage.app_sessions._sessions, KeyCipher(bytes(32)))
    with pytest.raises(KeyDecryptionError):
        await other.get(world.dev1.dev_eui)


async def test_create_is_idempotent_per_session_and_replaces_on_new_session(
    storage: Storage, world: World
) -> None:
    repo = storage.app_sessions
    eui = world.dev1.dev_eui
    await repo.create(_session(eui))
    assert await repo.reserve_f_cnt_down(eui, S1, expected_last=None, f_cnt_down=4)
    again = await repo.create(_session(eui))  # redelivered key: counters kept
    assert again.last_a_f_cnt_down_reserved == 4
    new = await repo.create(_session(eui, S2))  # a new join: fresh counters
    assert new.session_id == S2 and new.last_a_f_cnt_down_reserved is None
    got = await repo.get(eui)
    assert got is not None and got.session_id == S2


async def test_create_for_unknown_device(storage: Storage, world: World) -> None:
    with pytest.raises(NotFound):
        await storage.app_sessions.create(_session(EUI64.from_hex("FFFFFFFFFFFFFFFF")))


async def test_ns_counters_only_move_forward(storage: Storage, world: World) -> None:
    repo = storage.app_sessions
    eui = world.dev1.dev_eui
    await repo.create(_session(eui))
    assert await repo.record_ns_counters(eui, S1, n_f_cnt_down=5, a_f_cnt_down=2)
    assert await repo.record_ns_counters(eui, S1, n_f_cnt_down=3)  # older report: ignored
    assert await repo.record_ns_counters(eui, S1, a_f_cnt_down=9)
    got = await repo.get(eui)
    assert got is not None and (got.n_f_cnt_down, got.a_f_cnt_down) == (5, 9)
    assert not await repo.record_ns_counters(eui, S2, n_f_cnt_down=50)  # not the session
    assert await repo.record_ns_counters(eui, S1)  # nothing to write, session exists
    with pytest.raises(InvalidParameter):
        await repo.record_ns_counters(eui, S1, n_f_cnt_down=1 << 32)


async def test_reserve_is_compare_and_set(storage: Storage, world: World) -> None:
    repo = storage.app_sessions
    eui = world.dev1.dev_eui
    await repo.create(_session(eui))
    assert await repo.reserve_f_cnt_down(eui, S1, expected_last=None, f_cnt_down=0)
    assert not await repo.reserve_f_cnt_down(eui, S1, expected_last=None, f_cnt_down=1)
    assert await repo.reserve_f_cnt_down(eui, S1, expected_last=0, f_cnt_down=1)
    assert not await repo.reserve_f_cnt_down(eui, S2, expected_last=1, f_cnt_down=2)
    got = await repo.get(eui)
    assert got is not None and got.last_a_f_cnt_down_reserved == 1


async def test_delete_and_cascade_with_device(storage: Storage, world: World) -> None:
    repo = storage.app_sessions
    await repo.create(_session(world.dev1.dev_eui))
    await repo.create(_session(world.dev2.dev_eui))
    await repo.delete(world.dev1.dev_eui)
    assert await repo.get(world.dev1.dev_eui) is None
    with pytest.raises(NotFound):
        await repo.delete(world.dev1.dev_eui)
    await storage.devices.delete(world.dev2.dev_eui, tenant_id=None)
    assert await repo.get(world.dev2.dev_eui) is None
