"""End-to-end through the embedded platform's REST API: tenant isolation, and a clean shutdown
that loses nothing the gateway bridge acknowledged."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest

from services.lorawan.types import EUI64
from services.storage import StorageSettings, open_storage
from tests.e2e.conftest import Net
from tests.e2e.support import Api, eventually
from tests.e2e.test_embedded_uplink import abp_device
from tests.interop.lorapacket import LoraPacket

pytestmark = pytest.mark.e2e


async def test_tenants_see_only_their_own_objects(net: Net, lora_packet: LoraPacket) -> None:
    dev = await abp_device(net)
    await net.gw1.push(dev.uplink(lora_packet, b"secret"), tmst=1)
    await eventually(lambda: net.api.uplinks(dev.dev_eui))

    other = await net.api.tenant("globex")
    a = Api(net.base_url, await net.api.tenant_key(net.tenant_id, "acme ops"))
    b = Api(net.base_url, await net.api.tenant_key(other, "globex ops"))
    try:
        b_app = await b.application(other, "globex app")
        # tenant A sees its device, its uplinks, not B's application
        assert (await a.get(f"/api/devices/{dev.dev_eui}"))["dev_eui"] == dev.dev_eui
        assert len(await a.uplinks(dev.dev_eui)) == 1
        await a.get(f"/api/applications/{b_app}", expect=404)
        # tenant B sees nothing of A's: device, uplinks, session, queue, listings
        for path in ("", "/uplinks", "/session", "/queue"):
            await b.get(f"/api/devices/{dev.dev_eui}{path}", expect=404)
        assert (await b.get("/api/devices"))["items"] == []
        assert [x["id"] for x in (await b.get("/api/applications"))["items"]] == [b_app]
        r = await b.client.post(f"/api/devices/{dev.dev_eui}/queue", json={"f_port": 1})
        assert r.status_code in (404, 422)
        r = await b.client.post(
            "/api/devices",
            json={
                "dev_eui": "70B3D57EDFFFFFFF",
                "application_id": net.application_id,
                "device_profile_id": net.abp_profile_id,
            },
        )
        assert r.status_code in (403, 404, 422)
        await b.get("/api/tenants", expect=403)  # admin only
        await b.get(f"/api/gateways/{net.gw1.eui_hex}", expect=404)
        await a.get(f"/api/gateways/{net.gw1.eui_hex}")
        # no key, wrong key
        async with httpx.AsyncClient(base_url=net.base_url) as anon:
            assert (await anon.get("/api/devices")).status_code == 401
            bad = {"Authorization": "Bearer not-a-key"}
            assert (await anon.get("/api/devices", headers=bad)).status_code == 401
    finally:
        await a.close()
        await b.close()


async def test_clean_shutdown_keeps_every_acknowledged_uplink(
    net: Net, lora_packet: LoraPacket
) -> None:
    devices = [await abp_device(net) for _ in range(12)]
    udp_port = net.platform.endpoints.udp_port if net.platform.endpoints else 0
    # every frame is PUSH_ACKed, then the platform stops at once (dedup windows still open)
    for i, dev in enumerate(devices):
        gw = net.gw1 if i % 2 else net.gw2
        await gw.push(dev.uplink(lora_packet, bytes([i])), tmst=1000 + i)
    started = time.monotonic()
    await net.platform.stop()
    assert time.monotonic() - started < 10
    assert net.platform.bus is not None and getattr(net.platform.bus, "dropped_on_stop", 0) == 0

    # the ports are free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", udp_port))
    with pytest.raises(httpx.ConnectError):
        await net.api.client.get("/health")

    storage = await open_storage(StorageSettings(data_dir=str(net.data_dir)))
    try:
        for i, dev in enumerate(devices):
            page = await storage.uplinks.list_recent(EUI64.from_hex(dev.dev_eui), tenant_id=None)
            assert [(u.f_cnt, u.payload) for u in page.items] == [(1, bytes([i]))], dev.dev_eui
    finally:
        await storage.close()
    await asyncio.sleep(0)


async def test_gateway_status_reports_are_recorded(net: Net) -> None:
    stat = {
        "time": "2026-11-22 02:00:00 GMT",
        "lati": 46.24,
        "long": 3.25,
        "alti": 145,
        "rxnb": 12,
        "rxok": 11,
        "rxfw": 11,
        "ackr": 100.0,
        "dwnb": 2,
        "txnb": 2,
    }
    body = json.dumps({"stat": stat}).encode()
    net.gw1.send_raw(b"\x02\x00\x07\x00" + net.gw1.gw_eui + body)

    async def seen() -> dict[str, Any] | None:
        gw = await net.api.get(f"/api/gateways/{net.gw1.eui_hex}")
        return gw if gw["last_seen_at"] else None

    gw = await eventually(seen)
    assert gw["last_stats"]["rx_received"] == 12 and gw["last_stats"]["tx_emitted"] == 2
    assert gw["tenant_id"] == net.tenant_id  # the registration is kept
