"""Create / read / update / delete flows of every resource."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.lorawan.types import EUI64
from services.storage import Storage

from .conftest import ADMIN, NWK_KEY, TenantCtx, device_body

APP_KEY = "000102030405060708090A0B0C0D0E0F"


async def test_tenant_crud(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/tenants", json={"name": "acme"}, headers=ADMIN)
    assert r.status_code == 201
    tenant = r.json()
    assert tenant["name"] == "acme" and tenant["created_at"]
    r = await client.patch(f"/api/tenants/{tenant['id']}", json={"name": "ACME"}, headers=ADMIN)
    assert r.json()["name"] == "ACME"
    r = await client.delete(f"/api/tenants/{tenant['id']}", headers=ADMIN)
    assert r.status_code == 204
    r = await client.get(f"/api/tenants/{tenant['id']}", headers=ADMIN)
    assert r.status_code == 404


async def test_application_crud_with_integrations(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    body = {
        "name": "meters",
        "description": "water meters",
        "integrations": {
            "mqtt_enabled": False,
            "webhooks": [{"url": "https://example.com/hook", "headers": {"X-Token": "t"}}],
            "codec": "cayenne_lpp",
        },
    }
    r = await client.post("/api/applications", json=body, headers=tenant_a.headers)
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["tenant_id"] == tenant_a.id
    assert app["integrations"] == {
        "mqtt_enabled": False,
        "webhooks": [{"url": "https://example.com/hook", "headers": {"X-Token": "t"}}],
        "codec": "cayenne_lpp",
    }
    r = await client.patch(
        f"/api/applications/{app['id']}",
        json={"integrations": {"mqtt_enabled": True}},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200
    assert r.json()["integrations"] == {"mqtt_enabled": True, "webhooks": [], "codec": None}
    assert r.json()["name"] == "meters"
    r = await client.delete(f"/api/applications/{app['id']}", headers=tenant_a.headers)
    assert r.status_code == 204
    r = await client.get(f"/api/applications/{app['id']}", headers=tenant_a.headers)
    assert r.status_code == 404


async def test_admin_creates_application_for_a_tenant(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    r = await client.post("/api/applications", json={"name": "x"}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "tenant_id"]
    r = await client.post(
        "/api/applications", json={"name": "x", "tenant_id": tenant_a.id}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json()["tenant_id"] == tenant_a.id


async def test_device_profile_region_and_version_validation(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    h = tenant_a.headers
    r = await client.post(
        "/api/device-profiles",
        json={"name": "us", "region": "us915", "mac_version": "1.1", "device_class": "C"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    profile = r.json()
    assert profile["region"] == "US915" and profile["mac_version"] == "1.1.0"
    assert profile["rx2_freq"] == 923_300_000 and profile["rx2_dr"] == 8
    assert profile["device_class"] == "C"
    bad = [
        ({"region": "XX123"}, "unsupported region"),
        ({"mac_version": "2.0"}, "unknown LoRaWAN MAC version"),
        ({"device_class": "D"}, "'A', 'B' or 'C'"),
        ({"rx2_dr": 9}, "not a downlink data rate of EU868"),
        ({"rx2_freq": 915_000_000}, "outside EU868"),
        ({"rx1_delay": 0}, "greater than or equal to 1"),
        ({"adr_policy": "Not A Name!"}, "pattern"),
    ]
    for extra, message in bad:
        r = await client.post("/api/device-profiles", json={"name": "p", **extra}, headers=h)
        assert r.status_code == 422, extra
        assert message in r.text, (extra, r.text)
    # update: switching region brings that region's RX2 defaults; the result is re-validated
    r = await client.patch(
        f"/api/device-profiles/{profile['id']}", json={"region": "EU868"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["rx2_freq"] == 869_525_000 and r.json()["rx2_dr"] == 0
    assert r.json()["mac_version"] == "1.1.0"
    r = await client.patch(
        f"/api/device-profiles/{profile['id']}", json={"region": "US915", "rx2_dr": 10}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["rx2_freq"] == 923_300_000 and r.json()["rx2_dr"] == 10
    r = await client.patch(f"/api/device-profiles/{profile['id']}", json={"rx2_dr": 2}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"


async def test_profile_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    r = await client.post(
        "/api/devices", json=device_body(tenant_a, "0102030405060701"), headers=tenant_a.headers
    )
    assert r.status_code == 201
    r = await client.delete(f"/api/device-profiles/{tenant_a.profile_id}", headers=tenant_a.headers)
    assert r.status_code == 409


async def test_device_crud_keys_write_only(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    h = tenant_a.headers
    body = device_body(tenant_a, "70b3d57ed0000001", name="meter 1", app_key=APP_KEY)
    r = await client.post("/api/devices", json=body, headers=h)
    assert r.status_code == 201, r.text
    device = r.json()
    assert device["dev_eui"] == "70B3D57ED0000001"
    assert device["join_eui"] == "70B3D57ED0000000"
    assert device["has_nwk_key"] is True and device["has_app_key"] is True
    assert "nwk_key" not in device and "app_key" not in device
    assert NWK_KEY not in r.text and APP_KEY not in r.text
    for path in ("/api/devices/70B3D57ED0000001", "/api/devices"):
        r = await client.get(path, headers=h)
        assert r.status_code == 200
        assert NWK_KEY.lower() not in r.text.lower() and APP_KEY.lower() not in r.text.lower()
    stored = await storage.devices.get(EUI64.from_hex("70B3D57ED0000001"), tenant_id=None)
    assert stored is not None and stored.nwk_key is not None
    assert str(stored.nwk_key) == NWK_KEY
    # duplicate DevEUI
    r = await client.post("/api/devices", json=body, headers=h)
    assert r.status_code == 409
    # partial update: remove the app key, rename, disable; nwk_key kept
    r = await client.patch(
        "/api/devices/70B3D57ED0000001",
        json={"app_key": None, "name": "meter one", "enabled": False},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["has_app_key"] is False and r.json()["has_nwk_key"] is True
    assert r.json()["name"] == "meter one" and r.json()["enabled"] is False
    # OTAA profile: the root key cannot be removed
    r = await client.patch("/api/devices/70B3D57ED0000001", json={"nwk_key": None}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "nwk_key"]
    r = await client.delete("/api/devices/70B3D57ED0000001", headers=h)
    assert r.status_code == 204
    assert (await client.get("/api/devices/70B3D57ED0000001", headers=h)).status_code == 404
    assert (await client.delete("/api/devices/70B3D57ED0000001", headers=h)).status_code == 404


async def test_otaa_device_needs_root_keys(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    h = tenant_a.headers
    body = device_body(tenant_a, "0102030405060701")
    del body["nwk_key"]
    r = await client.post("/api/devices", json=body, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "nwk_key"]
    r = await client.post(
        "/api/device-profiles", json={"name": "v11", "mac_version": "1.1.0"}, headers=h
    )
    v11 = r.json()["id"]
    body = device_body(tenant_a, "0102030405060701", device_profile_id=v11)
    r = await client.post("/api/devices", json=body, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "app_key"]
    r = await client.post(
        "/api/device-profiles", json={"name": "abp", "supports_join": False}, headers=h
    )
    abp = r.json()["id"]
    body = device_body(tenant_a, "0102030405060701", device_profile_id=abp)
    del body["nwk_key"]
    r = await client.post("/api/devices", json=body, headers=h)
    assert r.status_code == 201 and r.json()["has_nwk_key"] is False


async def test_zones_and_gateways(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    h = tenant_a.headers
    r = await client.post(
        "/api/zones", json={"name": "zone-a", "description": "north"}, headers=ADMIN
    )
    assert r.status_code == 201
    assert (
        await client.post("/api/zones", json={"name": "zone-a"}, headers=ADMIN)
    ).status_code == 409
    r = await client.get("/api/zones", headers=h)
    assert [z["name"] for z in r.json()["items"]] == ["zone-a"]
    body = {
        "gw_eui": "aa-55-5a-00-00-00-00-01",
        "name": "roof",
        "zone": "zone-a",
        "location": {"latitude": 52.1, "longitude": 4.3, "altitude": 12.5},
    }
    r = await client.post("/api/gateways", json=body, headers=h)
    assert r.status_code == 201, r.text
    gw = r.json()
    assert gw["gw_eui"] == "AA555A0000000001" and gw["tenant_id"] == tenant_a.id
    assert gw["location"] == {"latitude": 52.1, "longitude": 4.3, "altitude": 12.5}
    assert gw["last_seen_at"] is None
    assert (await client.post("/api/gateways", json=body, headers=h)).status_code == 409
    # unknown zone
    r = await client.post(
        "/api/gateways", json={"gw_eui": "AA555A0000000009", "zone": "nowhere"}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "zone"]
    # the bridge reports it: last seen and stats show up
    seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await storage.gateways.record_seen(
        EUI64.from_hex("AA555A0000000001"), seen_at=seen, stats={"rx_received": 7}
    )
    r = await client.get("/api/gateways/AA555A0000000001", headers=h)
    assert r.json()["last_stats"] == {"rx_received": 7}
    assert datetime.fromisoformat(r.json()["last_seen_at"]).replace(tzinfo=UTC) == seen
    # update: clear the zone, move; tenant keys cannot reassign the tenant
    r = await client.patch(
        "/api/gateways/AA555A0000000001", json={"zone": None, "name": "mast"}, headers=h
    )
    assert r.status_code == 200 and r.json()["zone"] is None and r.json()["name"] == "mast"
    assert r.json()["location"] is not None
    r = await client.patch("/api/gateways/AA555A0000000001", json={"tenant_id": None}, headers=h)
    assert r.status_code == 403
    r = await client.get("/api/gateways?zone=zone-a", headers=h)
    assert r.json()["total"] == 0
    r = await client.delete("/api/gateways/AA555A0000000001", headers=h)
    assert r.status_code == 204
    r = await client.delete("/api/zones/zone-a", headers=h)
    assert r.status_code == 403
    r = await client.delete("/api/zones/zone-a", headers=ADMIN)
    assert r.status_code == 204


async def test_gateway_heard_before_registration_is_claimed(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    eui = EUI64.from_hex("AA555A0000000003")
    await storage.gateways.record_seen(eui, seen_at=datetime.now(UTC), stats={"rx_ok": 1})
    r = await client.get("/api/gateways", headers=tenant_a.headers)
    assert r.json()["total"] == 0  # unclaimed: only admins see it
    r = await client.get("/api/gateways", headers=ADMIN)
    assert r.json()["items"][0]["tenant_id"] is None
    r = await client.post(
        "/api/gateways", json={"gw_eui": str(eui), "name": "mine"}, headers=tenant_a.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == tenant_a.id and r.json()["last_stats"] == {"rx_ok": 1}
