"""The FastAPI application factory: ``create_app(storage, bus, event_hub, settings)``.

Routes live under ``/api`` (OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``);
``/health`` and ``/metrics`` sit at the root without authentication.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.bus import Bus
from services.ledger.base import Ledger
from services.ledger.writer import LedgerWriter
from services.migration import MigrationService
from services.storage import Storage

from . import metrics
from .bootstrap import ensure_admin_key
from .errors import install_error_handlers
from .events import EventHub
from .routers import (
    api_keys,
    applications,
    device_profiles,
    device_queue,
    device_sessions,
    devices,
    drcc,
    events,
    gateways,
    system,
    tenants,
    zones,
)
from .routers import ledger as ledger_routes
from .routers import migration as migration_routes
from .routers._common import API_PREFIX
from .settings import ApiSettings

log = logging.getLogger("hyperlora.api")

VERSION = "0.1.0"


class RequestMetricsMiddleware:
    """Counts every HTTP request as hyperlora_api_requests_total{route, status}."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", None)
            route = path if isinstance(path, str) else "unmatched"
            metrics.REQUESTS.labels(route, str(status)).inc()


def attach_ledger(
    app: FastAPI,
    ledger: Ledger | None,
    ledger_writer: LedgerWriter | None = None,
    migration: MigrationService | None = None,
) -> None:
    """Give the API the ledger, its writer and the migration service (any may be None)."""
    app.state.ledger = ledger
    app.state.ledger_writer = ledger_writer
    app.state.migration = migration


def create_app(
    storage: Storage,
    bus: Bus,
    event_hub: EventHub | None = None,
    settings: ApiSettings | None = None,
    *,
    ledger: Ledger | None = None,
    ledger_writer: LedgerWriter | None = None,
    migration: MigrationService | None = None,
) -> FastAPI:
    """The API over ``storage`` and ``bus``; ``event_hub`` feeds ``GET /api/events``.

    ``ledger`` (and, when they run in this process, ``ledger_writer`` and ``migration``)
    serve the ledger, verification and migration routes; without a ledger those answer 503.
    They may also be set later with :func:`attach_ledger`.

    Start-up (lifespan) ensures ``settings.admin_api_key`` as an admin key when set.
    """
    settings = settings or ApiSettings()
    hub = event_hub or EventHub(settings.event_queue_size, settings.max_event_subscribers)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.admin_api_key is not None:
            key = await ensure_admin_key(storage, settings.admin_api_key.get_secret_value())
            log.info("api.admin_key.ready key_id=%s", key.id)
        yield

    app = FastAPI(
        title="HyperLoRa API",
        version=VERSION,
        description=(
            "Management API of the HyperLoRa LoRaWAN network server. Authenticate with "
            "`Authorization: Bearer <API key>`; tenant keys see their tenant only."
        ),
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    app.state.storage = storage
    app.state.bus = bus
    app.state.event_hub = hub
    app.state.settings = settings
    app.state.peers = []  # other processes answered for on /metrics and /health (peers.py)
    attach_ledger(app, ledger, ledger_writer, migration)

    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware)

    for module in (
        tenants,
        api_keys,
        zones,
        gateways,
        applications,
        device_profiles,
        devices,
        device_sessions,
        device_queue,
        drcc,
        ledger_routes,
        migration_routes,
        events,
    ):
        # Routers carry the full /api/... prefix themselves (no nesting), so a request's
        # scope["route"].path is the full template used as the metrics label.
        app.include_router(module.router)
    app.include_router(system.router)
    return app
