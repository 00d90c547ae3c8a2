"""Migration routes over a MigrationService (its own SQLite history) and a RoutingTable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.api import ApiSettings, EventHub, create_app
from services.bus import MemoryBus
from services.migration import (
    MigrationService,
    MigrationSettings,
    RoutingTable,
    WriterStatsSource,
)
from services.storage import Storage

from .conftest import ADMIN, Received, TenantCtx

ZONES = ["zone-a", "zone-b"]


@pytest.fixture
async def migration(tmp_path: Path) -> AsyncIterator[MigrationService]:
    """zone-a migrates everything to zone-b; then three periods of the "none" policy pull the
    share back by the damping step (0.1 per period)."""
    settings = MigrationSettings(
        enabled=False, policy="none", period_s=10.0, zones=ZONES, data_dir=str(tmp_path / "m")
    )
    routing = RoutingTable()
    routing.apply({"zone-a": {"zone-b": 1.0}}, at=0.0, policy="manual")
    stats = WriterStatsSource(None, routing, ZONES, settings.params())
    service = MigrationService(settings, stats, routing, clock=lambda: 0.0)
    await service.start()
    for now in (10.0, 20.0, 30.0):
        await service.step(now)
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def app(
    storage: Storage,
    bus: tuple[MemoryBus, Received],
    hub: EventHub,
    settings: ApiSettings,
    migration: MigrationService,
) -> AsyncIterator[FastAPI]:
    application = create_app(storage, bus[0], hub, settings, migration=migration)
    async with application.router.lifespan_context(application):
        yield application


async def test_overview(client: httpx.AsyncClient, tenant_a: TenantCtx) -> None:
    r = await client.get("/api/migration", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    routing = body["routing"]
    assert routing["epoch"] == 4 and routing["policy"] == "none"
    assert routing["policy_active"] == "none" and routing["period_s"] == 10.0
    assert routing["started_at"] == 30.0
    assert routing["shares"] == {"zone-a": {"zone-b": pytest.approx(0.7)}}
    zones = {z["zone"]: z for z in body["zones"]}
    assert set(zones) == set(ZONES)
    assert zones["zone-a"]["capacity"] == 40.0  # batch 10 / 0.25 s blocks
    assert zones["zone-a"]["sends"] == {"zone-b": pytest.approx(0.7)}
    assert zones["zone-b"]["receives"] == {"zone-a": pytest.approx(0.7)}
    assert zones["zone-a"]["backlog"] == 0 and zones["zone-a"]["arrival_rate"] == 0.0
    assert {"none", "threshold", "predictive"} <= set(body["policies"])
    decisions = body["recent_decisions"]
    assert [d["at"] for d in decisions] == [10.0, 20.0, 30.0]  # oldest first
    assert all(d["changed"] and d["policy"] == "none" for d in decisions)
    assert all(d["trigger"] == "period" for d in decisions)  # no fast-check reaction here
    assert decisions[0]["reason"] == "no migration" and decisions[0]["epoch"] == 2
    assert [ep["epoch"] for ep in body["routing_history"]] == [0, 1, 2, 3, 4]
    assert body["routing_history"][1]["shares"] == {"zone-a": {"zone-b": 1.0}}
    assert (await client.get("/api/migration", headers=ADMIN)).status_code == 200
    assert (await client.get("/api/migration")).status_code == 401


async def test_decisions_pages_newest_first(
    client: httpx.AsyncClient, tenant_a: TenantCtx, migration: MigrationService
) -> None:
    h = tenant_a.headers
    r = await client.get("/api/migration/decisions?limit=2", headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [d["at"] for d in page["items"]] == [30.0, 20.0]
    assert page["has_more"] is True and page["limit"] == 2 and page["offset"] == 0
    assert page["items"][0]["shares"] == {"zone-a": {"zone-b": pytest.approx(0.7)}}
    assert page["items"][0]["proposed"] == {}
    page = (await client.get("/api/migration/decisions?limit=2&offset=2", headers=h)).json()
    assert [d["at"] for d in page["items"]] == [10.0] and page["has_more"] is False
    page = (await client.get("/api/migration/decisions?offset=5", headers=h)).json()
    assert page["items"] == [] and page["has_more"] is False
    # a decision that changed nothing is filtered by changed_only
    migration.routing.apply({}, at=35.0)  # back home: the "none" policy has nothing to undo
    await migration.step(40.0)
    page = (await client.get("/api/migration/decisions?limit=1", headers=h)).json()
    assert page["items"][0]["at"] == 40.0 and page["items"][0]["changed"] is False
    page = (
        await client.get("/api/migration/decisions?limit=1&changed_only=true", headers=h)
    ).json()
    assert page["items"][0]["at"] == 30.0
    for bad in ("limit=0", "limit=1001", "offset=-1"):
        r = await client.get(f"/api/migration/decisions?{bad}", headers=h)
        assert r.status_code == 422, bad


async def test_503_without_migration(
    storage: Storage,
    bus: tuple[MemoryBus, Received],
    hub: EventHub,
    settings: ApiSettings,
) -> None:
    application = create_app(storage, bus[0], hub, settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for path in ("/api/migration", "/api/migration/decisions"):
                r = await c.get(path, headers=ADMIN)
                assert r.status_code == 503, path
                assert r.json()["detail"] == "migration not configured"
                assert (await c.get(path)).status_code == 401
