"""Tenant isolation: another tenant's objects are 404 (never 403: existence is not leaked)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import ADMIN, TenantCtx, device_body

DEV_A = "0102030405060701"
DEV_B = "0102030405060702"
GW_B = "AA555A0000000002"


@pytest.fixture
async def objects(
    client: httpx.AsyncClient, tenant_a: TenantCtx, tenant_b: TenantCtx
) -> tuple[TenantCtx, TenantCtx]:
    for ctx, dev_eui in ((tenant_a, DEV_A), (tenant_b, DEV_B)):
        r = await client.post("/api/devices", json=device_body(ctx, dev_eui), headers=ctx.headers)
        assert r.status_code == 201, r.text
    r = await client.post("/api/gateways", json={"gw_eui": GW_B}, headers=tenant_b.headers)
    assert r.status_code == 201, r.text
    return tenant_a, tenant_b


def foreign_paths(b: TenantCtx) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", f"/api/applications/{b.application_id}", None),
        ("PATCH", f"/api/applications/{b.application_id}", {"name": "stolen"}),
        ("DELETE", f"/api/applications/{b.application_id}", None),
        ("GET", f"/api/device-profiles/{b.profile_id}", None),
        ("PATCH", f"/api/device-profiles/{b.profile_id}", {"name": "stolen"}),
        ("DELETE", f"/api/device-profiles/{b.profile_id}", None),
        ("GET", f"/api/devices/{DEV_B}", None),
        ("PATCH", f"/api/devices/{DEV_B}", {"name": "stolen"}),
        ("DELETE", f"/api/devices/{DEV_B}", None),
        ("GET", f"/api/devices/{DEV_B}/session", None),
        ("DELETE", f"/api/devices/{DEV_B}/session", None),
        ("GET", f"/api/devices/{DEV_B}/uplinks", None),
        ("GET", f"/api/devices/{DEV_B}/queue", None),
        ("DELETE", f"/api/devices/{DEV_B}/queue", None),
        ("POST", f"/api/devices/{DEV_B}/queue", {"f_port": 1, "data": "AQI="}),
        (
            "POST",
            f"/api/devices/{DEV_B}/activate",
            {"dev_addr": "26011F2A", "nwk_s_key": "00" * 16, "app_s_key": "11" * 16},
        ),
        ("GET", f"/api/gateways/{GW_B}", None),
        ("PATCH", f"/api/gateways/{GW_B}", {"name": "stolen"}),
        ("DELETE", f"/api/gateways/{GW_B}", None),
        ("GET", "/api/events?dev_eui=" + DEV_B, None),
        ("GET", "/api/events?application_id=" + b.application_id, None),
    ]


async def test_foreign_objects_are_not_found(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    a, b = objects
    for method, path, body in foreign_paths(b):
        r = await client.request(method, path, headers=a.headers, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["detail"].endswith("not found")
    # nothing changed: B still sees its objects intact
    r = await client.get(f"/api/applications/{b.application_id}", headers=b.headers)
    assert r.json()["name"] == "globex app"
    r = await client.get(f"/api/devices/{DEV_B}", headers=b.headers)
    assert r.status_code == 200 and r.json()["name"] == ""
    r = await client.get(f"/api/gateways/{GW_B}", headers=b.headers)
    assert r.status_code == 200


async def test_foreign_object_and_missing_object_answer_alike(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    a, _ = objects
    foreign = await client.get(f"/api/devices/{DEV_B}", headers=a.headers)
    missing = await client.get("/api/devices/0102030405060799", headers=a.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"detail": "device not found"}


async def test_lists_show_only_own_tenant(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    a, b = objects
    for path, key, own in [
        ("/api/applications", "id", a.application_id),
        ("/api/device-profiles", "id", a.profile_id),
        ("/api/devices", "dev_eui", DEV_A),
    ]:
        r = await client.get(path, headers=a.headers)
        assert r.status_code == 200
        assert [i[key] for i in r.json()["items"]] == [own], path
        assert r.json()["total"] == 1
    r = await client.get("/api/gateways", headers=a.headers)
    assert r.json()["items"] == []
    r = await client.get("/api/api-keys", headers=a.headers)
    assert {i["tenant_id"] for i in r.json()["items"]} == {a.id}
    # filtering a list by another tenant's application yields nothing
    r = await client.get(f"/api/devices?application_id={b.application_id}", headers=a.headers)
    assert r.json()["total"] == 0


async def test_admin_sees_every_tenant(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    r = await client.get("/api/devices", headers=ADMIN)
    assert [i["dev_eui"] for i in r.json()["items"]] == [DEV_A, DEV_B]
    r = await client.get("/api/applications", headers=ADMIN)
    assert r.json()["total"] == 2
    r = await client.get(f"/api/gateways/{GW_B}", headers=ADMIN)
    assert r.status_code == 200


async def test_cannot_create_in_another_tenant(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    a, b = objects
    # a device under B's application
    body = device_body(a, "0102030405060703", application_id=b.application_id)
    r = await client.post("/api/devices", json=body, headers=a.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "application_id"]
    # own application, B's profile
    body = device_body(a, "0102030405060703", device_profile_id=b.profile_id)
    r = await client.post("/api/devices", json=body, headers=a.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "device_profile_id"]
    # an application or key in B's tenant
    r = await client.post(
        "/api/applications", json={"name": "x", "tenant_id": b.id}, headers=a.headers
    )
    assert r.status_code == 422
    r = await client.post("/api/api-keys", json={"name": "x", "tenant_id": b.id}, headers=a.headers)
    assert r.status_code == 422
    # moving own device into B's application
    r = await client.patch(
        f"/api/devices/{DEV_A}", json={"application_id": b.application_id}, headers=a.headers
    )
    assert r.status_code == 422
    # B's api key cannot be deleted by A
    keys_b = await client.get("/api/api-keys", headers=b.headers)
    key_b = keys_b.json()["items"][0]["id"]
    assert (await client.delete(f"/api/api-keys/{key_b}", headers=a.headers)).status_code == 404
    assert (await client.get(f"/api/api-keys/{key_b}", headers=a.headers)).status_code == 404
    assert (await client.get("/api/applications", headers=b.headers)).status_code == 200


async def test_gateway_owned_by_another_tenant_cannot_be_claimed(
    client: httpx.AsyncClient, objects: tuple[TenantCtx, TenantCtx]
) -> None:
    a, b = objects
    r = await client.post("/api/gateways", json={"gw_eui": GW_B}, headers=a.headers)
    assert r.status_code == 409
    r = await client.get(f"/api/gateways/{GW_B}", headers=b.headers)
    assert r.json()["tenant_id"] == b.id
