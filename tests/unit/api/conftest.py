"""Fixtures: the API over a migrated SQLite database in tmp_path and a running MemoryBus."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api import ApiSettings, EventHub, create_app
from services.api.routers.device_queue import AS_DOWN_SUBMIT
from services.bus import Envelope, MemoryBus, Topic
from services.bus.messages import BaseMessage, DownlinkRequest
from services.bus.topics import TOPICS, TopicSpec
from services.storage import Storage, build_storage
from services.storage.db import create_engine
from services.storage.migrate import upgrade

KEK = bytes(range(32))
ADMIN_SECRET = "admin-secret-for-tests-0123456789"


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per session; each test gets a copy (migrating takes ~0.2 s)."""
    path = tmp_path_factory.mktemp("template") / "hyperlora.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
async def storage(tmp_path: Path, migrated_db: Path) -> AsyncIterator[Storage]:
    path = tmp_path / "hyperlora.db"
    shutil.copyfile(migrated_db, path)
    st = build_storage(create_engine(f"sqlite+aiosqlite:///{path}"), KEK)
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
def submit_topic(monkeypatch: pytest.MonkeyPatch) -> str:
    """as.down.submit, registered for the test if services.bus.topics does not list it yet."""
    if AS_DOWN_SUBMIT not in TOPICS:
        spec = TopicSpec(AS_DOWN_SUBMIT, DownlinkRequest, "dev_eui", "api", ("app_handler",))
        monkeypatch.setitem(TOPICS, AS_DOWN_SUBMIT, spec)
    return AS_DOWN_SUBMIT


@dataclass
class Received:
    by_topic: dict[str, list[Envelope[BaseMessage]]] = field(default_factory=dict)

    def of(self, topic: str) -> list[Envelope[BaseMessage]]:
        return self.by_topic.get(topic, [])


@pytest.fixture
async def bus(submit_topic: str) -> AsyncIterator[tuple[MemoryBus, Received]]:
    b = MemoryBus(partitions=2)
    received = Received()
    for topic in (submit_topic, Topic.JS_APP_S_KEY.value):

        async def handler(env: Envelope[BaseMessage], topic: str = topic) -> None:
            received.by_topic.setdefault(topic, []).append(env)

        b.subscribe(topic, "test", handler)
    await b.start()
    try:
        yield b, received
    finally:
        await b.stop()


@pytest.fixture
def hub() -> EventHub:
    return EventHub(queue_size=8, max_subscribers=4)


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(admin_api_key=ADMIN_SECRET)


@pytest.fixture
async def app(
    storage: Storage, bus: tuple[MemoryBus, Received], hub: EventHub, settings: ApiSettings
) -> AsyncIterator[FastAPI]:
    application = create_app(storage, bus[0], hub, settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


ADMIN = bearer(ADMIN_SECRET)


@dataclass
class TenantCtx:
    id: str
    headers: dict[str, str]
    application_id: str
    profile_id: str


async def make_tenant(client: httpx.AsyncClient, name: str) -> TenantCtx:
    """A tenant with its own API key, one application and one EU868 OTAA profile."""
    r = await client.post("/api/tenants", json={"name": name}, headers=ADMIN)
    assert r.status_code == 201, r.text
    tenant_id = r.json()["id"]
    r = await client.post(
        "/api/api-keys", json={"name": f"{name} key", "tenant_id": tenant_id}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    headers = bearer(r.json()["secret"])
    r = await client.post("/api/applications", json={"name": f"{name} app"}, headers=headers)
    assert r.status_code == 201, r.text
    application_id = r.json()["id"]
    r = await client.post(
        "/api/device-profiles",
        json={"name": f"{name} profile", "region": "EU868", "mac_version": "1.0.3"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return TenantCtx(tenant_id, headers, application_id, r.json()["id"])


@pytest.fixture
async def tenant_a(client: httpx.AsyncClient) -> TenantCtx:
    return await make_tenant(client, "acme")


@pytest.fixture
async def tenant_b(client: httpx.AsyncClient) -> TenantCtx:
    return await make_tenant(client, "globex")


NWK_KEY = "2B7E151628AED2A6ABF7158809CF4F3C"


def device_body(ctx: TenantCtx, dev_eui: str, **extra: Any) -> dict[str, Any]:
    return {
        "dev_eui": dev_eui,
        "application_id": ctx.application_id,
        "device_profile_id": ctx.profile_id,
        "join_eui": "70B3D57ED0000000",
        "nwk_key": NWK_KEY,
        **extra,
    }


def new_id() -> str:
    return str(uuid.uuid4())
