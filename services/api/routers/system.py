"""/health and /metrics: no authentication (for probes and Prometheus scrapers)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..deps import BusDep, EventHubDep, StorageDep

log = logging.getLogger("hyperlora.api")

router = APIRouter(tags=["system"])


async def _storage_status(storage: Any) -> dict[str, Any]:
    try:
        async with storage.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.error("api.health.storage_unreachable error=%r", exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


@router.get("/health")
async def health(storage: StorageDep, bus: BusDep, hub: EventHubDep) -> JSONResponse:
    """200 when the database answers and the bus runs; 503 otherwise (body says which)."""
    storage_status = await _storage_status(storage)
    bus_status = {"running": bus.running, "backend": type(bus).__name__}
    ok = storage_status["ok"] and bus_status["running"]
    body = {
        "status": "ok" if ok else "degraded",
        "storage": storage_status,
        "bus": bus_status,
        "event_subscribers": hub.subscriber_count,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of the process's default registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
