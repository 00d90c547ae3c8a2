"""Fixtures: a migrated SQLite database in a temporary directory, repositories over it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.lorawan.types import EUI64, AES128Key
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

KEK = bytes(range(32))


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


# Set to a PostgreSQL URL (postgresql+asyncpg://...) to run these tests against an empty
# scratch database there instead of SQLite; its schema is dropped before every test.
TEST_URL_ENV = "HYPERLORA_STORAGE_TEST_URL"


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    url = os.environ.get(TEST_URL_ENV)
    if url:
        await _reset_postgres(url)
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'hyperlora.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(db_url: str, clock: FakeClock) -> AsyncIterator[Storage]:
    await upgrade(db_url)
    st = build_storage(create_engine(db_url), KEK, clock=clock)
    try:
        yield st
    finally:
        await st.close()


@dataclass
class World:
    """Two tenants, each with an application, a profile and a device."""

    t1: Tenant
    t2: Tenant
    app1: Application
    app2: Application
    prof1: DeviceProfile
    prof2: DeviceProfile
    dev1: Device
    dev2: Device


def random_key() -> AES128Key:
    return AES128Key(os.urandom(16))


async def make_device(
    st: Storage, tenant: Tenant, app: Application, prof: DeviceProfile, dev_eui: EUI64
) -> Device:
    return await st.devices.create(
        Device(
            dev_eui=dev_eui,
            tenant_id=tenant.id,
            application_id=app.id,
            device_profile_id=prof.id,
            name=f"dev {dev_eui}",
            join_eui=EUI64.from_hex("70B3D57ED0000000"),
            nwk_key=random_key(),
            app_key=random_key(),
        )
    )


@pytest.fixture
async def world(storage: Storage) -> World:
    t1 = await storage.tenants.create(Tenant(name="acme"))
    t2 = await storage.tenants.create(Tenant(name="globex"))
    app1 = await storage.applications.create(Application(tenant_id=t1.id, name="meters"))
    app2 = await storage.applications.create(Application(tenant_id=t2.id, name="trackers"))
    prof1 = await storage.device_profiles.create(DeviceProfile(tenant_id=t1.id, name="eu-a"))
    prof2 = await storage.device_profiles.create(DeviceProfile(tenant_id=t2.id, name="eu-a"))
    dev1 = await make_device(storage, t1, app1, prof1, EUI64.from_hex("0102030405060701"))
    dev2 = await make_device(storage, t2, app2, prof2, EUI64.from_hex("0102030405060702"))
    return World(t1, t2, app1, app2, prof1, prof2, dev1, dev2)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
