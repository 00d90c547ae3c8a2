"""Helpers of the join server tests: devices, profiles, JoinRequests built as a device would."""

from __future__ import annotations

import itertools
import random
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.bus.messages import JoinRequest, RxMetadata
from services.join_server import AppSKeyWrapper, JoinServerCore
from services.join_server.channel_plan import RxDefaults
from services.join_server.settings import DEFAULT_CF_LIST_FREQUENCIES
from services.lorawan.join import JoinRequestPayload
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import EUI64, AES128Key, NetID
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    Storage,
    Tenant,
    build_storage,
)
from services.storage.db import create_engine
from services.storage.migrate import upgrade

NWK_KEY = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
APP_KEY = AES128Key.from_hex("000102030405060708090A0B0C0D0E0F")
JOIN_EUI = EUI64.from_hex("70B3D57ED0000001")
DEV_EUI = EUI64.from_hex("0004A30B001C0530")
NET_ID = NetID.from_hex("000013")
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")
KEK = bytes(range(32))


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


def session_ids() -> Callable[[], uuid.UUID]:
    counter = itertools.count(1)
    return lambda: uuid.UUID(int=next(counter))


def make_profile(mac_version: str = "1.0.3", region: str = "EU868", **kw: Any) -> DeviceProfile:
    return DeviceProfile(
        tenant_id=TENANT, name=f"p-{mac_version}", mac_version=mac_version, region=region, **kw
    )


def make_device(profile: DeviceProfile, dev_eui: EUI64 = DEV_EUI, **kw: Any) -> Device:
    values: dict[str, Any] = {
        "join_eui": JOIN_EUI,
        "nwk_key": NWK_KEY,
        "app_key": APP_KEY if profile.mac_version.startswith("1.1") else None,
    }
    values.update(kw)
    return Device(
        dev_eui=dev_eui,
        tenant_id=TENANT,
        application_id=uuid.UUID(int=7),
        device_profile_id=profile.id,
        **values,
    )


def join_request_frame(
    dev_nonce: int,
    key: AES128Key = NWK_KEY,
    dev_eui: EUI64 = DEV_EUI,
    join_eui: EUI64 = JOIN_EUI,
) -> bytes:
    phy = PhyPayload(MHDR(MType.JOIN_REQUEST), JoinRequestPayload(join_eui, dev_eui, dev_nonce))
    phy.set_join_request_mic(key)
    return phy.to_bytes()


def join_request(
    dev_nonce: int,
    *,
    key: AES128Key = NWK_KEY,
    dev_eui: EUI64 = DEV_EUI,
    join_eui: EUI64 = JOIN_EUI,
    region: str = "EU868",
    dedup_id: str | None = None,
    phy_payload: bytes | None = None,
) -> JoinRequest:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    freq = 868_100_000 if region == "EU868" else 902_300_000
    wire = (
        phy_payload
        if phy_payload is not None
        else join_request_frame(dev_nonce, key, dev_eui, join_eui)
    )
    return JoinRequest(
        dedup_id=dedup_id or uuid.uuid4().hex,
        phy_payload=wire,
        dev_eui=str(dev_eui),
        join_eui=str(join_eui),
        dev_nonce=dev_nonce,
        net_id=str(NET_ID),
        region=region,
        dr=0,
        freq_hz=freq,
        rx=[
            RxMetadata(
                gw_eui="AA555A0000000001",
                tmst=1_000_000,
                freq_hz=freq,
                rssi=-80.0,
                snr=7.5,
                size=len(wire),
                received_at=now,
            )
        ],
        received_at=now,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def core(clock: FakeClock) -> JoinServerCore:
    return JoinServerCore(
        net_id=NET_ID,
        wrapper=AppSKeyWrapper(),
        clock=clock,
        new_session_id=session_ids(),
        rx_defaults=RxDefaults(),
        cf_list_frequencies=DEFAULT_CF_LIST_FREQUENCIES,
        sub_bands=(2,),
    )


# --------------------------------------------------------------------------- SQLite storage


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One database migrated to head per session; every test gets a copy of it."""
    import asyncio

    path = tmp_path_factory.mktemp("js-template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    yield path


@pytest.fixture
async def storage(migrated_db: Path, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Storage]:
    db = tmp_path / "hyperlora.db"
    shutil.copy(migrated_db, db)
    st = build_storage(create_engine(f"sqlite+aiosqlite:///{db}"), KEK, clock=clock)
    try:
        yield st
    finally:
        await st.close()


async def register(
    st: Storage, mac_version: str, region: str = "EU868", dev_eui: EUI64 = DEV_EUI, **kw: Any
) -> Device:
    """A tenant, application, profile and device in the storage."""
    tenant = await st.tenants.get(TENANT)
    if tenant is None:
        tenant = await st.tenants.create(Tenant(id=TENANT, name="acme"))
    app = await st.applications.create(Application(tenant_id=TENANT, name=f"app-{dev_eui}"))
    profile = await st.device_profiles.create(make_profile(mac_version, region))
    device = make_device(profile, dev_eui, **kw)
    device.application_id = app.id
    return await st.devices.create(device)


def seeded_rng(seed: int = 1) -> random.Random:
    return random.Random(seed)
