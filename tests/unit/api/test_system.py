"""/health and /metrics (no authentication); request and rejection counters."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from services.api.deps import get_storage
from services.bus import MemoryBus
from services.storage import Storage, build_storage

from .conftest import KEK, Received


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_health_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["storage"] == {"ok": True}
    assert body["bus"] == {"running": True, "backend": "MemoryBus"}


async def test_health_reports_stopped_bus(
    client: httpx.AsyncClient, bus: tuple[MemoryBus, Received]
) -> None:
    await bus[0].stop()
    r = await client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["bus"]["running"] is False


async def test_health_reports_unreachable_storage(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # a database file inside a "directory" that is a plain file: connecting fails
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    broken: Storage = build_storage(
        create_async_engine(f"sqlite+aiosqlite:///{blocker}/sub/db.sqlite"), KEK
    )
    app.dependency_overrides[get_storage] = lambda: broken
    try:
        r = await client.get("/health")
    finally:
        app.dependency_overrides.clear()
        await broken.engine.dispose()
    assert r.status_code == 503
    assert r.json()["storage"]["ok"] is False
    assert r.json()["storage"]["error"] == "OperationalError"


async def test_metrics_count_requests_and_rejections(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    route = "/api/devices/{dev_eui}"
    r401 = _sample(before, "hyperlora_api_requests_total", route=route, status="401")
    rej = _sample(before, "hyperlora_api_rejections_total", route=route, reason="unauthorized")
    r422 = _sample(before, "hyperlora_api_rejections_total", route=route, reason="validation")
    assert (await client.get("/api/devices/0102030405060708")).status_code == 401
    assert (await client.get("/api/devices/0102030405060708")).status_code == 401
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    after = r.text
    assert _sample(after, "hyperlora_api_requests_total", route=route, status="401") == r401 + 2
    assert (
        _sample(after, "hyperlora_api_rejections_total", route=route, reason="unauthorized")
        == rej + 2
    )
    assert (
        _sample(after, "hyperlora_api_rejections_total", route=route, reason="validation") == r422
    )
    assert "hyperlora_bus_published_messages_total" in after  # the whole default registry
    assert _sample(after, "hyperlora_api_requests_total", route="/metrics", status="200") >= 1


async def test_rejections_are_logged_with_context(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hyperlora.api"):
        await client.get("/api/devices/0102030405060708", headers={"Authorization": "Bearer x"})
    records = [r for r in caplog.records if r.getMessage().startswith("api.rejected")]
    assert records
    context = records[-1].api  # type: ignore[attr-defined]
    assert context["status"] == 401 and context["path"] == "/api/devices/0102030405060708"
    assert context["route"] == "/api/devices/{dev_eui}" and context["tenant"] == "-"
