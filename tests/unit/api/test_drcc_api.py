"""DRCC routes: a device's decisions and state; the policy chosen through the device profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.lorawan.types import EUI64
from services.storage import Storage
from services.storage.domain import DrccDecision, DrccState

from .conftest import ADMIN, TenantCtx, device_body

DEV = "70B3D57ED0000201"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def make_device(client: httpx.AsyncClient, ctx: TenantCtx) -> None:
    r = await client.post("/api/devices", json=device_body(ctx, DEV), headers=ctx.headers)
    assert r.status_code == 201, r.text


async def test_decisions_listed_newest_first(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    await make_device(client, tenant_a)
    h = tenant_a.headers
    r = await client.get(f"/api/devices/{DEV}/drcc/decisions", headers=h)
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0
    for i, (dr, reason) in enumerate([(5, "der high"), (3, "der low"), (4, "channel load")]):
        await storage.drcc.record_decision(
            DrccDecision(
                dev_eui=EUI64.from_hex(DEV),
                policy="drcc",
                dr=dr,
                tx_power_index=i,
                ch_mask=[0, 1, 2][: i + 1],
                nb_trans=1 + i,
                reason=reason,
                details={"der": 0.5 + i / 10},
                created_at=T0 + timedelta(minutes=i),
            )
        )
    r = await client.get(f"/api/devices/{DEV}/drcc/decisions", headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 3
    newest = page["items"][0]
    assert newest["dr"] == 4 and newest["tx_power_index"] == 2 and newest["channels"] == [0, 1, 2]
    assert newest["nb_trans"] == 3 and newest["policy"] == "drcc"
    assert newest["reason"] == "channel load" and newest["details"] == {"der": 0.7}
    assert datetime.fromisoformat(newest["time"]).replace(tzinfo=UTC) == T0 + timedelta(minutes=2)
    assert [d["reason"] for d in page["items"]] == ["channel load", "der low", "der high"]
    page = (
        await client.get(f"/api/devices/{DEV}/drcc/decisions?limit=1&offset=1", headers=h)
    ).json()
    assert [d["dr"] for d in page["items"]] == [3] and page["total"] == 3


async def test_state_and_policy_through_the_profile(
    client: httpx.AsyncClient, tenant_a: TenantCtx, storage: Storage
) -> None:
    await make_device(client, tenant_a)
    h = tenant_a.headers
    r = await client.get(f"/api/devices/{DEV}/drcc/state", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "dev_eui": DEV,
        "adr_policy": "default",
        "policy": None,
        "state": {},
        "updated_at": None,
        "radio": None,
    }
    await storage.drcc.save_state(
        DrccState(
            dev_eui=EUI64.from_hex(DEV),
            policy="drcc",
            state={"history": [{"f_cnt": 1}], "pending": None, "policy": "drcc"},
        )
    )
    r = await client.patch(
        f"/api/device-profiles/{tenant_a.profile_id}", json={"adr_policy": "drcc"}, headers=h
    )
    assert r.status_code == 200 and r.json()["adr_policy"] == "drcc"
    body = (await client.get(f"/api/devices/{DEV}/drcc/state", headers=h)).json()
    assert body["adr_policy"] == "drcc" and body["policy"] == "drcc"
    assert body["state"]["history"] == [{"f_cnt": 1}] and body["updated_at"] is not None
    # unknown policies are refused, on create and on update
    r = await client.patch(
        f"/api/device-profiles/{tenant_a.profile_id}", json={"adr_policy": "bogus"}, headers=h
    )
    assert r.status_code == 422 and "unknown adr_policy 'bogus'" in r.text
    assert "lorawan-adr" in r.text  # the message lists what is available


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        ("default", 201),
        ("drcc", 201),
        ("lorawan-adr", 201),
        ("lorawan_adr", 201),  # an alias of lorawan-adr
        ("static", 201),
        ("no-such-policy", 422),
        ("Not A Name!", 422),
    ],
)
async def test_profile_adr_policy_validated(
    client: httpx.AsyncClient, tenant_a: TenantCtx, policy: str, status: int
) -> None:
    r = await client.post(
        "/api/device-profiles",
        json={"name": f"p {policy}", "adr_policy": policy},
        headers=tenant_a.headers,
    )
    assert r.status_code == status, r.text
    if status == 201:
        assert r.json()["adr_policy"] == policy


async def test_tenant_isolation(
    client: httpx.AsyncClient, tenant_a: TenantCtx, tenant_b: TenantCtx
) -> None:
    await make_device(client, tenant_a)
    for path in (f"/api/devices/{DEV}/drcc/decisions", f"/api/devices/{DEV}/drcc/state"):
        r = await client.get(path, headers=tenant_b.headers)
        assert r.status_code == 404 and r.json()["detail"] == "device not found", path
        assert (await client.get(path, headers=ADMIN)).status_code == 200, path
        assert (await client.get(path)).status_code == 401, path
