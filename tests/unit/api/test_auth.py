"""Authentication and authorisation: bearer API keys, admin versus tenant keys."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from services.api import ApiSettings
from services.api.bootstrap import AdminKeyConflict, ensure_admin_key
from services.storage import ApiKey, Storage, Tenant

from .conftest import ADMIN, ADMIN_SECRET, TenantCtx, bearer

PROTECTED = [
    ("GET", "/api/applications"),
    ("GET", "/api/devices"),
    ("GET", "/api/gateways"),
    ("GET", "/api/zones"),
    ("GET", "/api/tenants"),
    ("GET", "/api/api-keys"),
    ("GET", "/api/device-profiles"),
    ("POST", "/api/applications"),
    ("GET", "/api/devices/0102030405060708/session"),
    ("POST", "/api/devices/0102030405060708/queue"),
    ("GET", "/api/events"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_requests_without_a_key_get_401(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"detail": "missing API key (Authorization: Bearer <key>)"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer ", f"Bearer {ADMIN_SECRET}x", "bearer"],
)
@pytest.mark.parametrize("path", ["/api/devices", "/api/tenants"])
async def test_bad_keys_get_401(client: httpx.AsyncClient, authorization: str, path: str) -> None:
    r = await client.get(path, headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "API key" in r.json()["detail"]


async def test_bootstrap_admin_key_sees_tenants(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/tenants", headers=ADMIN)
    assert r.status_code == 200
    assert r.json() == {"items": [], "total": 0, "limit": 100, "offset": 0}


async def test_tenant_key_cannot_manage_tenants(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    for method, path in [
        ("GET", "/api/tenants"),
        ("POST", "/api/tenants"),
        ("GET", f"/api/tenants/{tenant_a.id}"),
        ("DELETE", f"/api/tenants/{tenant_a.id}"),
    ]:
        r = await client.request(method, path, headers=tenant_a.headers, json={"name": "x"})
        assert r.status_code == 403, (method, path)
    r = await client.get(f"/api/tenants/{tenant_a.id}", headers=ADMIN)
    assert r.status_code == 200


async def test_tenant_key_cannot_create_admin_key_nor_zone(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    r = await client.post(
        "/api/api-keys", json={"name": "escalate", "is_admin": True}, headers=tenant_a.headers
    )
    assert r.status_code == 403
    r = await client.post("/api/zones", json={"name": "zone-a"}, headers=tenant_a.headers)
    assert r.status_code == 403


async def test_api_key_secret_is_shown_once_and_works(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    r = await client.post("/api/api-keys", json={"name": "second"}, headers=tenant_a.headers)
    assert r.status_code == 201
    created = r.json()
    assert created["tenant_id"] == tenant_a.id and created["is_admin"] is False
    secret = created["secret"]
    listed = await client.get("/api/api-keys", headers=tenant_a.headers)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert all("secret" not in item for item in listed.json()["items"])
    assert {i["name"] for i in listed.json()["items"]} == {"acme key", "second"}
    one = await client.get(f"/api/api-keys/{created['id']}", headers=tenant_a.headers)
    assert one.status_code == 200 and "secret" not in one.json()
    assert (await client.get("/api/applications", headers=bearer(secret))).status_code == 200
    r = await client.delete(f"/api/api-keys/{created['id']}", headers=tenant_a.headers)
    assert r.status_code == 204
    assert (await client.get("/api/applications", headers=bearer(secret))).status_code == 401


async def test_admin_creates_admin_key_without_tenant(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/api-keys", json={"name": "ops", "is_admin": True}, headers=ADMIN)
    assert r.status_code == 201
    assert r.json()["tenant_id"] is None and r.json()["is_admin"] is True
    r = await client.post(
        "/api/api-keys",
        json={"name": "bad", "is_admin": True, "tenant_id": "9a3c54a4-5ba3-4b39-9d4e-21c8b0d9d001"},
        headers=ADMIN,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "tenant_id"]


async def test_admin_must_name_the_tenant_of_a_tenant_key(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/api-keys", json={"name": "orphan"}, headers=ADMIN)
    assert r.status_code == 422
    assert "tenant_id" in r.json()["detail"][0]["msg"]


async def test_ensure_admin_key_is_idempotent(storage: Storage) -> None:
    first = await ensure_admin_key(storage, ADMIN_SECRET)
    second = await ensure_admin_key(storage, ADMIN_SECRET)
    assert first.id == second.id and first.is_admin and first.tenant_id is None
    page = await storage.api_keys.list(tenant_id=None)
    assert page.total == 1


async def test_ensure_admin_key_refuses_a_tenant_keys_secret(storage: Storage) -> None:
    tenant = await storage.tenants.create(Tenant(name="t"))
    _, secret = await storage.api_keys.create(ApiKey(name="k", tenant_id=tenant.id))
    with pytest.raises(AdminKeyConflict):
        await ensure_admin_key(storage, secret)


def test_short_admin_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        ApiSettings(admin_api_key="short")
    assert ApiSettings(admin_api_key="").admin_api_key is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_API_PORT", "9090")
    monkeypatch.setenv("HYPERLORA_API_ADMIN_API_KEY", "x" * 32)
    s = ApiSettings()
    assert s.port == 9090 and s.host == "127.0.0.1"
    assert s.admin_api_key is not None and s.admin_api_key.get_secret_value() == "x" * 32
    assert "x" * 32 not in repr(s)
