"""The downlink queue: POST publishes a plain DownlinkRequest on as.down.submit."""

from __future__ import annotations

import asyncio
import base64

import httpx

from services.bus import MemoryBus
from services.bus.messages import DownlinkRequest
from services.lorawan.types import EUI64
from services.storage import QueueItem, Storage

from .conftest import Received, TenantCtx, device_body

DEV = "0102030405060701"


async def _wait_for(received: Received, topic: str, n: int) -> None:
    for _ in range(200):
        if len(received.of(topic)) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{topic}: {len(received.of(topic))} messages, wanted {n}")


async def _device(client: httpx.AsyncClient, ctx: TenantCtx) -> None:
    r = await client.post("/api/devices", json=device_body(ctx, DEV), headers=ctx.headers)
    assert r.status_code == 201


async def test_submit_publishes_downlink_request(
    client: httpx.AsyncClient,
    tenant_a: TenantCtx,
    bus: tuple[MemoryBus, Received],
    submit_topic: str,
) -> None:
    await _device(client, tenant_a)
    _, received = bus
    r = await client.post(
        f"/api/devices/{DEV.lower()}/queue",
        json={"f_port": 10, "data": base64.b64encode(b"\x01\x02\x03").decode(), "confirmed": True},
        headers=tenant_a.headers,
    )
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]
    assert r.json()["dev_eui"] == DEV
    r2 = await client.post(
        f"/api/devices/{DEV}/queue",
        json={"f_port": 2, "data_hex": "cafe"},
        headers=tenant_a.headers,
    )
    assert r2.status_code == 202
    await _wait_for(received, submit_topic, 2)
    first, second = received.of(submit_topic)
    msg = first.message
    assert isinstance(msg, DownlinkRequest)
    assert first.key == DEV
    assert msg.request_id == request_id and msg.dev_eui == DEV
    assert msg.f_port == 10 and msg.frm_payload == b"\x01\x02\x03"
    assert msg.encrypted is False and msg.confirmed is True and msg.f_cnt_down is None
    assert isinstance(second.message, DownlinkRequest)
    assert second.message.frm_payload == b"\xca\xfe" and second.message.confirmed is False
    assert second.message.request_id == r2.json()["request_id"] != request_id


async def test_submit_validation(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    await _device(client, tenant_a)
    h = tenant_a.headers
    for body, fragment in [
        ({"f_port": 0, "data": "AA=="}, "greater than or equal to 1"),
        ({"f_port": 224, "data": "AA=="}, "less than or equal to 223"),
        ({"f_port": 1, "data": "AA==", "data_hex": "00"}, "not both"),
        ({"f_port": 1, "data": "!!"}, "not valid base64"),
        ({"f_port": 1, "data_hex": "0g"}, "not hexadecimal"),
        ({"f_port": 1, "data_hex": "00" * 243}, "exceeds 242 bytes"),
    ]:
        r = await client.post(f"/api/devices/{DEV}/queue", json=body, headers=h)
        assert r.status_code == 422, body
        assert fragment in r.text, (body, r.text)


async def test_submit_with_bus_stopped_is_503(
    client: httpx.AsyncClient, tenant_a: TenantCtx, bus: tuple[MemoryBus, Received]
) -> None:
    await _device(client, tenant_a)
    await bus[0].stop()
    r = await client.post(
        f"/api/devices/{DEV}/queue", json={"f_port": 1, "data": "AA=="}, headers=tenant_a.headers
    )
    assert r.status_code == 503
    assert "message bus unavailable" in r.json()["detail"]


async def test_list_and_flush_queue(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    await _device(client, tenant_a)
    eui = EUI64.from_hex(DEV)
    for port in (1, 2, 3):
        await storage.queue.enqueue(QueueItem(dev_eui=eui, f_port=port, frm_payload=bytes([port])))
    r = await client.get(f"/api/devices/{DEV}/queue?limit=2", headers=tenant_a.headers)
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 3 and [i["f_port"] for i in page["items"]] == [1, 2]
    assert page["items"][0]["frm_payload"] == "AQ==" and page["items"][0]["f_cnt_down"] is None
    r = await client.delete(f"/api/devices/{DEV}/queue", headers=tenant_a.headers)
    assert r.status_code == 200 and r.json() == {"dev_eui": DEV, "deleted": 3}
    r = await client.get(f"/api/devices/{DEV}/queue", headers=tenant_a.headers)
    assert r.json()["total"] == 0


async def test_unknown_device_queue_is_404(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    r = await client.post(
        f"/api/devices/{DEV}/queue", json={"f_port": 1, "data": "AA=="}, headers=tenant_a.headers
    )
    assert r.status_code == 404
