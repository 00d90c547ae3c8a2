"""Fixtures: a migrated SQLite storage, a device world, a local HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.lorawan.types import EUI64, AES128Key
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    Integrations,
    Storage,
    Tenant,
    Webhook,
    build_storage,
)
from services.storage.db import create_engine
from services.storage.migrate import upgrade

STORAGE_KEK = bytes(range(32))
DEV_EUI = EUI64.from_hex("0102030405060701")
OTHER_EUI = EUI64.from_hex("0102030405060702")


@dataclass
class HookRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class HookServer:
    """A minimal HTTP/1.1 server on 127.0.0.1 (keep-alive) that records every request and
    answers with the queued statuses (200 once they run out)."""

    requests: list[HookRequest] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.statuses.popleft() if self.statuses else 200
                self.requests.append(HookRequest(method, path, headers, body, status))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


@pytest.fixture
async def hook_server() -> AsyncIterator[HookServer]:
    server = HookServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hyperlora.db'}"
    await upgrade(url)
    st = build_storage(create_engine(url), STORAGE_KEK)
    try:
        yield st
    finally:
        await st.close()


@dataclass
class World:
    tenant: Tenant
    app: Application
    other_app: Application
    device: Device
    other: Device  # in other_app, no webhooks


@pytest.fixture
async def world(storage: Storage, hook_server: HookServer) -> World:
    tenant = await storage.tenants.create(Tenant(name="acme"))
    app = await storage.applications.create(
        Application(
            tenant_id=tenant.id,
            name="meters",
            integrations=Integrations(
                webhooks=[Webhook(url=hook_server.url, headers={"Authorization": "Bearer t0k"})],
                codec="cayenne_lpp",
            ),
        )
    )
    other_app = await storage.applications.create(Application(tenant_id=tenant.id, name="other"))
    prof = await storage.device_profiles.create(DeviceProfile(tenant_id=tenant.id, name="eu"))

    async def device(eui: EUI64, application: Application) -> Device:
        return await storage.devices.create(
            Device(
                dev_eui=eui,
                tenant_id=tenant.id,
                application_id=application.id,
                device_profile_id=prof.id,
                name=f"dev {eui}",
                join_eui=EUI64.from_hex("70B3D57ED0000000"),
                nwk_key=AES128Key(bytes(16)),
            )
        )

    return World(
        tenant, app, other_app, await device(DEV_EUI, app), await device(OTHER_EUI, other_app)
    )


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    """Wait until ``check()`` holds (polling), or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)
