"""422 answers in FastAPI's usual shape, with clear messages; pagination."""

from __future__ import annotations

import httpx
import pytest

from .conftest import ADMIN, TenantCtx, device_body


def assert_422(r: httpx.Response, loc: list[object], fragment: str) -> None:
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert isinstance(errors, list) and errors
    match = [e for e in errors if e["loc"] == loc]
    assert match, errors
    assert {"type", "loc", "msg"} <= set(match[0])
    assert fragment in match[0]["msg"], match[0]["msg"]


async def test_missing_and_wrongly_typed_fields(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    r = await client.post("/api/applications", json={}, headers=tenant_a.headers)
    assert_422(r, ["body", "name"], "Field required")
    r = await client.post("/api/applications", json={"name": ""}, headers=tenant_a.headers)
    assert_422(r, ["body", "name"], "at least 1 character")
    r = await client.post(
        "/api/applications", json={"name": "x", "colour": "red"}, headers=tenant_a.headers
    )
    assert_422(r, ["body", "colour"], "Extra inputs are not permitted")
    r = await client.post(
        "/api/applications",
        json={"name": "x", "integrations": {"webhooks": [{"url": "ftp://x"}]}},
        headers=tenant_a.headers,
    )
    assert_422(r, ["body", "integrations", "webhooks", 0, "url"], "http:// or https://")
    r = await client.post("/api/applications", content=b"{not json", headers=tenant_a.headers)
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("dev_eui", "01020304050607", "expected 16 hex digits (8 bytes), got 14"),
        ("dev_eui", "010203040506070G", "not hexadecimal"),
        ("dev_eui", 1234, "expected a hex string"),
        ("join_eui", "zz", "not hexadecimal"),
        ("nwk_key", "00112233", "expected 32 hex digits (16 bytes), got 8"),
        ("app_key", "0011223344556677889900112233445566", "expected 32 hex digits"),
    ],
)
async def test_invalid_hex_in_body(
    client: httpx.AsyncClient, tenant_a: TenantCtx, field: str, value: object, fragment: str
) -> None:
    body = device_body(tenant_a, "0102030405060701")
    body[field] = value
    r = await client.post("/api/devices", json=body, headers=tenant_a.headers)
    assert_422(r, ["body", field], fragment)


@pytest.mark.parametrize(
    "path",
    [
        "/api/devices/XYZ",
        "/api/devices/01020304050607/session",
        "/api/devices/01020304050607080910/queue",
        "/api/gateways/not-an-eui",
    ],
)
async def test_invalid_eui_in_path(
    client: httpx.AsyncClient, tenant_a: TenantCtx, path: str
) -> None:
    r = await client.get(path, headers=tenant_a.headers)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"][0] == "path"
    assert "EUI-64" in error["msg"]


async def test_eui_accepts_separators_and_case(
    client: httpx.AsyncClient, tenant_a: TenantCtx
) -> None:
    body = device_body(tenant_a, "01:02:03:04:05:06:07:0a")
    r = await client.post("/api/devices", json=body, headers=tenant_a.headers)
    assert r.status_code == 201 and r.json()["dev_eui"] == "010203040506070A"
    r = await client.get("/api/devices/0x010203040506070a", headers=tenant_a.headers)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("query", "loc"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("offset=-1", "offset"), ("limit=x", "limit")],
)
async def test_bad_pagination(client: httpx.AsyncClient, query: str, loc: str) -> None:
    r = await client.get(f"/api/tenants?{query}", headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", loc]


async def test_pagination(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    euis = [f"01020304050607{i:02X}" for i in range(7)]
    for eui in reversed(euis):
        r = await client.post(
            "/api/devices", json=device_body(tenant_a, eui), headers=tenant_a.headers
        )
        assert r.status_code == 201
    r = await client.get("/api/devices?limit=3&offset=2", headers=tenant_a.headers)
    page = r.json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 2
    assert [d["dev_eui"] for d in page["items"]] == euis[2:5]
    r = await client.get("/api/devices?offset=6", headers=tenant_a.headers)
    assert [d["dev_eui"] for d in r.json()["items"]] == euis[6:]
    assert r.json()["limit"] == 100
    r = await client.get("/api/devices?offset=50", headers=tenant_a.headers)
    assert r.json()["items"] == [] and r.json()["total"] == 7
    r = await client.get("/api/devices?limit=1000", headers=tenant_a.headers)
    assert len(r.json()["items"]) == 7


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert "/api/devices/{dev_eui}/queue" in spec["paths"]
    assert "ApiKey" in spec["components"]["securitySchemes"]
    device_public = spec["components"]["schemas"]["DevicePublic"]["properties"]
    assert "has_nwk_key" in device_public and "nwk_key" not in device_public
    r = await client.get("/api/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
