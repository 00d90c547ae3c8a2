"""The event hub (fan-out, bounded queues, tenant filter) and the SSE stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api import ApiService, ApiSettings, EventHub
from services.api.events import HubClosed, HubFull
from services.bus import MemoryBus
from services.storage import Storage

from .conftest import ADMIN_SECRET, Received, TenantCtx, device_body

T1 = uuid.uuid4()
T2 = uuid.uuid4()


async def test_hub_filters_by_tenant_device_and_application() -> None:
    hub = EventHub(queue_size=10)
    app_id = uuid.uuid4()
    admin = hub.open(tenant_id=None)
    t1 = hub.open(tenant_id=T1)
    t1_dev = hub.open(tenant_id=T1, dev_eui="01:02:03:04:05:06:07:08")
    t1_app = hub.open(tenant_id=T1, application_id=app_id)
    events = [
        {
            "type": "uplink",
            "tenant_id": str(T1),
            "dev_eui": "0102030405060708",
            "application_id": str(app_id),
        },
        {"type": "uplink", "tenant_id": T1, "dev_eui": "0102030405060709"},
        {"type": "join", "tenant_id": str(T2), "dev_eui": "0102030405060708"},
        {"type": "system"},  # no tenant: admins only
    ]
    delivered = [hub.publish(e) for e in events]
    assert delivered == [4, 2, 1, 1]

    def drain(sub: Any) -> list[str]:
        out = []
        while sub.pending:
            seq, event = sub._queue.get_nowait()
            out.append(f"{seq}:{event['type']}")
        return out

    assert drain(admin) == ["1:uplink", "2:uplink", "3:join", "4:system"]
    assert drain(t1) == ["1:uplink", "2:uplink"]
    assert drain(t1_dev) == ["1:uplink"]
    assert drain(t1_app) == ["1:uplink"]


async def test_hub_queue_is_bounded_and_drops_oldest() -> None:
    hub = EventHub(queue_size=3)
    with hub.subscribe(tenant_id=None) as sub:
        for i in range(10):
            hub.publish({"type": "uplink", "n": i})
        assert sub.pending == 3 and sub.dropped == 7 and hub.dropped == 7
        got = [(await sub.get()) for _ in range(3)]
        assert [e["n"] for _, e in got if e] == [7, 8, 9]
    assert hub.subscriber_count == 0
    assert hub.publish({"type": "uplink"}) == 0


async def test_hub_limits_subscribers_and_close_ends_iteration() -> None:
    hub = EventHub(queue_size=2, max_subscribers=2)
    a = hub.open(tenant_id=None)
    hub.open(tenant_id=T1)
    with pytest.raises(HubFull):
        hub.open(tenant_id=T2)
    hub.publish({"type": "x", "tenant_id": str(T1)})

    async def collect() -> list[dict[str, Any]]:
        return [event async for _, event in a]

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)
    hub.close()
    assert await asyncio.wait_for(task, 1) == [{"type": "x", "tenant_id": str(T1)}]
    assert hub.subscriber_count == 0
    with pytest.raises(HubClosed):
        hub.open(tenant_id=None)
    assert hub.publish({"type": "late"}) == 0


def test_publish_does_not_keep_a_reference_to_the_callers_dict() -> None:
    hub = EventHub()
    sub = hub.open(tenant_id=None)
    event = {"type": "uplink"}
    hub.publish(event)
    event["type"] = "changed"
    assert sub._queue.get_nowait()[1] == {"type": "uplink"}


# ------------------------------------------------------------------------- SSE over ASGI


class RawStream:
    """Drive the ASGI app directly: the response body arrives chunk by chunk (no buffering)."""

    def __init__(self, app: FastAPI, path: str, query: str, secret: str) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.disconnect = asyncio.Event()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {secret}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.create_task(app(scope, self._receive, self._send))
        self._sent_request = False

    async def _receive(self) -> dict[str, Any]:
        if not self._sent_request:
            self._sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        await self.messages.put(message)

    async def next_message(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), timeout=5)

    async def next_event(self) -> dict[str, str]:
        """The next SSE message (keep-alive comments skipped), as its fields."""
        buffer = ""
        while True:
            message = await self.next_message()
            assert message["type"] == "http.response.body"
            buffer += message["body"].decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(
                    line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
                )
                if fields:
                    return fields

    async def close(self) -> None:
        self.disconnect.set()
        await asyncio.wait_for(self.task, timeout=5)


async def _wait(predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_sse_stream_delivers_hub_events_of_own_tenant(
    app: FastAPI,
    client: httpx.AsyncClient,
    hub: EventHub,
    tenant_a: TenantCtx,
    tenant_b: TenantCtx,
) -> None:
    dev = "0102030405060701"
    r = await client.post("/api/devices", json=device_body(tenant_a, dev), headers=tenant_a.headers)
    assert r.status_code == 201
    secret = tenant_a.headers["Authorization"].removeprefix("Bearer ")
    stream = RawStream(app, "/api/events", f"dev_eui={dev.lower()}", secret)
    start = await stream.next_message()
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    await _wait(lambda: hub.subscriber_count == 1)

    hub.publish({"type": "uplink", "tenant_id": tenant_b.id, "dev_eui": dev, "f_cnt": 99})
    hub.publish({"type": "uplink", "tenant_id": tenant_a.id, "dev_eui": "0102030405060702"})
    hub.publish({"type": "uplink", "tenant_id": tenant_a.id, "dev_eui": dev, "f_cnt": 7})
    hub.publish({"type": "ack", "tenant_id": tenant_a.id, "dev_eui": dev, "acknowledged": True})
    first = await stream.next_event()
    assert first["event"] == "uplink" and first["id"] == "3"
    assert json.loads(first["data"]) == {
        "type": "uplink",
        "tenant_id": tenant_a.id,
        "dev_eui": dev,
        "f_cnt": 7,
    }
    second = await stream.next_event()
    assert second["event"] == "ack" and json.loads(second["data"])["acknowledged"] is True
    await stream.close()
    await _wait(lambda: hub.subscriber_count == 0)


async def test_sse_keepalive_and_binary_fields(app: FastAPI, hub: EventHub) -> None:
    app.state.settings = ApiSettings(admin_api_key=ADMIN_SECRET, event_keepalive_s=0.05)
    stream = RawStream(app, "/api/events", "", ADMIN_SECRET)
    assert (await stream.next_message())["status"] == 200
    body = await stream.next_message()
    assert body["body"] == b": keep-alive\n\n"
    at = datetime(2026, 1, 1, tzinfo=UTC)
    hub.publish({"type": "uplink", "data": b"\x00\xff", "session_id": uuid.UUID(int=1), "at": at})
    event = await stream.next_event()
    assert json.loads(event["data"]) == {
        "type": "uplink",
        "data": "AP8=",
        "session_id": "00000000-0000-0000-0000-000000000001",
        "at": "2026-01-01T00:00:00+00:00",
    }
    await stream.close()


async def test_sse_subscriber_limit_is_503(
    app: FastAPI, hub: EventHub, client: httpx.AsyncClient
) -> None:
    for _ in range(hub.max_subscribers):
        hub.open(tenant_id=None)
    r = await client.get("/api/events", headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
    assert r.status_code == 503
    assert "too many event subscribers" in r.json()["detail"]


# ------------------------------------------------------------------- over a real socket


async def test_api_service_serves_sse_over_tcp(
    storage: Storage, bus: tuple[MemoryBus, Received]
) -> None:
    settings = ApiSettings(port=0, admin_api_key=ADMIN_SECRET)
    service = ApiService(settings, bus[0], storage)
    await service.start()
    try:
        port = service.bound_port
        assert port
        headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            assert (await http.get("/health")).status_code == 200
            async with http.stream("GET", "/api/events", headers=headers) as response:
                assert response.status_code == 200
                await _wait(lambda: service.event_hub.subscriber_count == 1)
                service.event_hub.publish({"type": "join", "dev_eui": "0102030405060708"})
                lines = response.aiter_lines()
                got: list[str] = []
                while not any(line.startswith("data:") for line in got):
                    got.append(await asyncio.wait_for(anext(lines), 5))
                assert "event: join" in got
    finally:
        await asyncio.wait_for(service.stop(), 10)
    assert service.event_hub.subscriber_count == 0
