"""ABP activation, the session without keys, the uplink log."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from services.bus import MemoryBus, Topic
from services.bus.messages import AppSKeyDelivery
from services.lorawan.types import EUI64, DevAddr
from services.storage import Storage, UplinkRecord

from .conftest import Received, TenantCtx, device_body

DEV = "0102030405060701"
NWK_S_KEY = "44024241ED4CE9A68C6A8BC055233FD3"
APP_S_KEY = "EC925802AE430CA77FD3DD73CB2CC588"


async def _abp_device(client: httpx.AsyncClient, ctx: TenantCtx, mac_version: str) -> None:
    r = await client.post(
        "/api/device-profiles",
        json={
            "name": f"abp {mac_version}",
            "supports_join": False,
            "mac_version": mac_version,
            "rx1_delay": 2,
            "rx2_dr": 3,
        },
        headers=ctx.headers,
    )
    assert r.status_code == 201, r.text
    body = device_body(ctx, DEV, device_profile_id=r.json()["id"])
    del body["nwk_key"]
    r = await client.post("/api/devices", json=body, headers=ctx.headers)
    assert r.status_code == 201, r.text


async def test_activate_10_device(
    client: httpx.AsyncClient,
    tenant_a: TenantCtx,
    storage: Storage,
    bus: tuple[MemoryBus, Received],
) -> None:
    await _abp_device(client, tenant_a, "1.0.3")
    h = tenant_a.headers
    r = await client.get(f"/api/devices/{DEV}/session", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "device session not found"
    r = await client.post(
        f"/api/devices/{DEV}/activate",
        json={
            "dev_addr": "26011f2a",
            "nwk_s_key": NWK_S_KEY,
            "app_s_key": APP_S_KEY,
            "f_cnt_up": 41,
            "n_f_cnt_down": 5,
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["dev_addr"] == "26011F2A" and session["mac_version"] == "1.0.3"
    assert session["f_cnt_up"] == 41 and session["n_f_cnt_down"] == 5
    assert session["rx1_delay"] == 2 and session["rx2_dr"] == 3
    assert session["enabled_channels"] == [0, 1, 2]
    for text in (r.text, (await client.get(f"/api/devices/{DEV}/session", headers=h)).text):
        assert NWK_S_KEY not in text.upper() and APP_S_KEY not in text.upper()
        assert "key" not in text.lower()
    stored = await storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV))
    assert stored is not None
    assert str(stored.f_nwk_s_int_key) == str(stored.s_nwk_s_int_key) == NWK_S_KEY
    assert str(stored.nwk_s_enc_key) == NWK_S_KEY
    assert stored.app_s_key is None  # the NS session never holds the AppSKey
    assert stored.dev_addr == DevAddr.from_hex("26011F2A")
    # the AppSKey went to the application handler
    _, received = bus
    for _ in range(200):
        if received.of(Topic.JS_APP_S_KEY.value):
            break
        await asyncio.sleep(0.005)
    (env,) = received.of(Topic.JS_APP_S_KEY.value)
    msg = env.message
    assert isinstance(msg, AppSKeyDelivery)
    assert msg.dev_eui == DEV and msg.app_s_key_wrapped == APP_S_KEY
    assert msg.session_id == session["session_id"] and msg.dev_addr == "26011F2A"
    assert msg.join_eui == "70B3D57ED0000000" and msg.kek_label == ""
    # deactivate
    r = await client.delete(f"/api/devices/{DEV}/session", headers=h)
    assert r.status_code == 204
    assert (await client.get(f"/api/devices/{DEV}/session", headers=h)).status_code == 404


async def test_activate_11_device_needs_split_keys(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    await _abp_device(client, tenant_a, "1.1.0")
    h = tenant_a.headers
    r = await client.post(
        f"/api/devices/{DEV}/activate",
        json={"dev_addr": "26011F2A", "nwk_s_key": NWK_S_KEY, "app_s_key": APP_S_KEY},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "nwk_s_key"]
    keys = {"f_nwk_s_int_key": "01" * 16, "s_nwk_s_int_key": "02" * 16, "nwk_s_enc_key": "03" * 16}
    r = await client.post(
        f"/api/devices/{DEV}/activate",
        json={"dev_addr": "26011F2A", "app_s_key": APP_S_KEY, **keys},
        headers=h,
    )
    assert r.status_code == 201, r.text
    stored = await storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV))
    assert stored is not None and stored.mac_version == "1.1.0"
    assert str(stored.s_nwk_s_int_key) == "02" * 16 and str(stored.nwk_s_enc_key) == "03" * 16


async def test_activation_body_validation(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    await _abp_device(client, tenant_a, "1.0.3")
    for body, fragment in [
        ({"dev_addr": "26011F2A", "app_s_key": APP_S_KEY}, "network session keys missing"),
        (
            {
                "dev_addr": "26011F2A",
                "app_s_key": APP_S_KEY,
                "nwk_s_key": NWK_S_KEY,
                "nwk_s_enc_key": NWK_S_KEY,
            },
            "not both",
        ),
        ({"dev_addr": "26011F", "app_s_key": APP_S_KEY, "nwk_s_key": NWK_S_KEY}, "DevAddr"),
        ({"dev_addr": "26011F2A", "nwk_s_key": NWK_S_KEY}, "Field required"),
    ]:
        r = await client.post(f"/api/devices/{DEV}/activate", json=body, headers=tenant_a.headers)
        assert r.status_code == 422, body
        assert fragment in r.text, (body, r.text)


async def test_recent_uplinks_paginated(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    r = await client.post("/api/devices", json=device_body(tenant_a, DEV), headers=tenant_a.headers)
    assert r.status_code == 201
    session_id = uuid.uuid4()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for f_cnt in range(5):
        await storage.uplinks.insert(
            UplinkRecord(
                dev_eui=EUI64.from_hex(DEV),
                dev_addr=DevAddr.from_hex("26011F2A"),
                session_id=session_id,
                f_cnt=f_cnt,
                f_port=1,
                payload=bytes([f_cnt]),
                dr=5,
                freq=868_100_000,
                rx_metadata=[{"gw_eui": "AA555A0000000001", "rssi": -80}],
                received_at=t0 + timedelta(seconds=f_cnt),
            )
        )
    r = await client.get(f"/api/devices/{DEV}/uplinks?limit=2", headers=tenant_a.headers)
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 5 and [u["f_cnt"] for u in page["items"]] == [4, 3]
    first = page["items"][0]
    assert first["data"] == "BA==" and first["dr"] == 5 and first["freq"] == 868_100_000
    assert len(first["payload_sha256"]) == 64
    assert first["rx_metadata"] == [{"gw_eui": "AA555A0000000001", "rssi": -80}]
    r = await client.get(f"/api/devices/{DEV}/uplinks?limit=2&offset=4", headers=tenant_a.headers)
    assert [u["f_cnt"] for u in r.json()["items"]] == [0]
