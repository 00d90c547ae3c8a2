"""/health and /metrics: no authentication (for probes and Prometheus scrapers)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..deps import BusDep, EventHubDep, StorageDep
from ..peers import MAIN, PeerProcess, merge_expositions, peer_up_family

log = logging.getLogger("hyperlora.api")

router = APIRouter(tags=["system"])

PEER_TIMEOUT_S = 5.0


def _peers(request: Request) -> list[PeerProcess]:
    peers: list[PeerProcess] = getattr(request.app.state, "peers", [])
    return peers


async def _storage_status(storage: Any) -> dict[str, Any]:
    try:
        async with storage.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.error("api.health.storage_unreachable error=%r", exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


@router.get("/health")
async def health(
    request: Request, storage: StorageDep, bus: BusDep, hub: EventHubDep
) -> JSONResponse:
    """200 when the database answers, the bus runs and every peer process (the radio process
    of the two-process embedded mode) is up; 503 otherwise (body says which)."""
    storage_status = await _storage_status(storage)
    bus_status = {"running": bus.running, "backend": type(bus).__name__}
    ok = storage_status["ok"] and bus_status["running"]
    body: dict[str, Any] = {
        "status": "ok",
        "storage": storage_status,
        "bus": bus_status,
        "event_subscribers": hub.subscriber_count,
    }
    peers = _peers(request)
    if peers:
        body["processes"] = {p.name: p.status() for p in peers}
        ok = ok and all(p.status().get("ok") for p in peers)
    body["status"] = "ok" if ok else "degraded"
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of the process's default registry; with peer processes,
    theirs merged in, every sample labelled with its ``process`` (see services.api.peers)."""
    peers = _peers(request)
    own = generate_latest(REGISTRY)
    if not peers:
        return Response(own, media_type=CONTENT_TYPE_LATEST)
    parts = [(MAIN, own.decode())]
    up: dict[str, bool] = {}
    for peer in peers:
        try:
            text_ = await asyncio.wait_for(peer.metrics_text(), timeout=PEER_TIMEOUT_S)
        except Exception as exc:  # a dead or slow peer must not fail the scrape
            log.warning("api.metrics.peer_failed process=%s error=%r", peer.name, exc)
            up[peer.name] = False
            continue
        parts.append((peer.name, text_))
        up[peer.name] = True
    body = merge_expositions(parts) + peer_up_family(up).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
